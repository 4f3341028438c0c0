"""Fixtures shared across test packages, and JAX's persistent compilation cache.

The tests compile the same graphs many times over (each CLI subprocess, each xdist worker); the
cache, shared by every process of the session through the environment, compiles each graph
once. A user's own JAX_COMPILATION_CACHE_DIR is respected.
"""

import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).parents[1]
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", str(ROOT / ".pytest_cache" / "jax-compilation"))


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory) -> pathlib.Path:
    """A finished `experiments/quickstart.py:smoke` run (trained once per test process)."""
    workdir = tmp_path_factory.mktemp("smoke") / "run"
    result = subprocess.run([sys.executable, "-m", "artjax.main", "--config",
                             str(ROOT / "experiments" / "quickstart.py") + ":smoke", "--workdir", str(workdir)],
                            cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return workdir
