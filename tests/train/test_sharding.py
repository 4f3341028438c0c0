"""Device-count invariance: 1 device, 8 host devices, and 2 processes x 2 devices train alike;
artjax's CPU defaults train like JAX's own."""

import pathlib
import socket
import subprocess
import sys

import numpy as np
import pytest

SCRIPT = str(pathlib.Path(__file__).with_name("sharded_run.py"))


def _run(tmp_path, name, devices, processes=1):
    out = tmp_path / f"{name}.npz"
    if processes == 1:
        subprocess.run([sys.executable, SCRIPT, str(out), str(devices)], check=True, timeout=600)
    else:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        procs = [subprocess.Popen([sys.executable, SCRIPT, str(out), str(devices), str(i), str(processes), str(port)])
                 for i in range(processes)]
        assert [p.wait(timeout=600) for p in procs] == [0] * processes
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


def test_one_device_equals_eight_devices_and_two_processes(tmp_path, one):
    eight = _run(tmp_path, "eight", 8)
    assert one["mesh_devices"] == 1 and eight["mesh_devices"] == 8
    _assert_same(one, eight)
    two_by_two = _run(tmp_path, "two_by_two", 2, processes=2)
    assert two_by_two["mesh_devices"] == 4
    _assert_same(one, two_by_two)


def test_artjax_cpu_defaults_change_results_only_by_rounding(tmp_path, one):
    plain = one  # no XLA flag but the device count, which is JAX's own (one device)
    tuned = _run(tmp_path, "tuned", "artjax")
    assert plain["mesh_devices"] == tuned["mesh_devices"] == 1  # artjax keeps JAX's one CPU device
    _assert_same(plain, tuned, tolerance=1e-4)
