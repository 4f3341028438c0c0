"""artjax's CPU default: YNNPACK fusions, only when the user's XLA_FLAGS do not already choose
them, and never once JAX is imported; JAX's own single CPU device is left alone."""

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
    runtime.configure_xla_cpu()
    return os.environ["XLA_FLAGS"].split()


def test_default_fills_in_only_what_the_user_left_open(monkeypatch):
    ynn = f"--xla_cpu_experimental_ynn_fusion_type={runtime.YNN_FUSIONS}"
    assert _configure(monkeypatch, None) == [ynn]
    assert _configure(monkeypatch, "--xla_force_host_platform_device_count=2") == [
        "--xla_force_host_platform_device_count=2", ynn]
    user = "--xla_cpu_experimental_ynn_fusion_type=dot --xla_force_host_platform_device_count=3"
    assert _configure(monkeypatch, user) == user.split()


def test_nothing_changes_once_jax_is_imported(monkeypatch):
    monkeypatch.setenv("XLA_FLAGS", "--xla_dump_to=/tmp/x")
    monkeypatch.setitem(sys.modules, "jax", importlib.import_module("jax"))
    runtime.configure_xla_cpu()
    assert os.environ["XLA_FLAGS"] == "--xla_dump_to=/tmp/x"
