"""Device-count invariance: 1 device and 8 host devices train alike; artjax's CPU defaults train
like JAX's own. Several processes: tests/test_multihost.py, through the CLI."""

import pathlib
import subprocess
import sys

import numpy as np
import pytest

SCRIPT = str(pathlib.Path(__file__).with_name("sharded_run.py"))


def _run(tmp_path, name, devices):
    out = tmp_path / f"{name}.npz"
    subprocess.run([sys.executable, SCRIPT, str(out), str(devices)], check=True, timeout=600)
    return dict(np.load(out))


def _assert_same(a, b, tolerance=1e-5):
    np.testing.assert_allclose(a["losses"], b["losses"], rtol=tolerance, atol=tolerance)
    keys = [k for k in a if k not in ("losses", "mesh_devices")]
    assert keys and sorted(keys) == sorted(k for k in b if k not in ("losses", "mesh_devices"))
    assert any("mean" in k for k in keys)  # BatchNorm running statistics are compared too
    for k in keys:
        np.testing.assert_allclose(a[k], b[k], rtol=tolerance, atol=tolerance, err_msg=k)


@pytest.fixture(scope="module")
def one(tmp_path_factory):
    """One host device: JAX's own CPU default, the reference of both tests."""
    return _run(tmp_path_factory.mktemp("one"), "one", 1)


def test_one_device_equals_eight_devices(tmp_path, one):
    eight = _run(tmp_path, "eight", 8)
    assert one["mesh_devices"] == 1 and eight["mesh_devices"] == 8
    _assert_same(one, eight)


def test_artjax_cpu_defaults_change_results_only_by_rounding(tmp_path, one):
    plain = one  # no XLA flag but the device count, which is JAX's own (one device)
    tuned = _run(tmp_path, "tuned", "artjax")
    assert plain["mesh_devices"] == tuned["mesh_devices"] == 1  # artjax keeps JAX's one CPU device
    _assert_same(plain, tuned, tolerance=1e-4)
