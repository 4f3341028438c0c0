"""artjax's CPU defaults: one host device per core and YNNPACK fusions, each only when the user's
XLA_FLAGS do not already choose it, and never once JAX is imported."""

import importlib
import os
import sys

from artjax import runtime


def _configure(monkeypatch, flags):
    monkeypatch.delitem(sys.modules, "jax", raising=False)  # restored by monkeypatch after the test
    if flags is None:
        monkeypatch.delenv("XLA_FLAGS", raising=False)
    else:
        monkeypatch.setenv("XLA_FLAGS", flags)
    runtime.configure_host_devices()
    return os.environ["XLA_FLAGS"].split()


def test_defaults_fill_in_only_what_the_user_left_open(monkeypatch):
    cores = min(os.cpu_count(), runtime.MAX_HOST_DEVICES)
    assert _configure(monkeypatch, None) == [f"--xla_force_host_platform_device_count={cores}",
                                             f"--xla_cpu_experimental_ynn_fusion_type={runtime.YNN_FUSIONS}"]
    assert _configure(monkeypatch, "--xla_force_host_platform_device_count=1") == [
        "--xla_force_host_platform_device_count=1", f"--xla_cpu_experimental_ynn_fusion_type={runtime.YNN_FUSIONS}"]
    user = "--xla_cpu_experimental_ynn_fusion_type=dot --xla_force_host_platform_device_count=3"
    assert _configure(monkeypatch, user) == user.split()


def test_nothing_changes_once_jax_is_imported(monkeypatch):
    monkeypatch.setenv("XLA_FLAGS", "--xla_dump_to=/tmp/x")
    monkeypatch.setitem(sys.modules, "jax", importlib.import_module("jax"))
    runtime.configure_host_devices()
    assert os.environ["XLA_FLAGS"] == "--xla_dump_to=/tmp/x"
