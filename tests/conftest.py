"""Fixtures shared across test packages, and JAX's persistent compilation cache.

The tests compile the same graphs many times over (each CLI subprocess, each xdist worker); the
cache, shared by every process of the session through the environment, compiles each graph
once. Every compilation is cached, not only those over JAX's default second: a CLI run of the
quickstart's smoke form compiles some hundred small programs (parameter initialisers, metrics),
and a warm run takes 11 s instead of 19 s with them cached. A user's own settings are respected.

The finished runs below are trained once per session, whichever xdist worker asks first (a file
lock in the session's shared temporary directory), and read by tests on every worker: tests
that need to change a run copy it first.
"""

import fcntl
import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).parents[1]
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", str(ROOT / ".pytest_cache" / "jax-compilation"))
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")

# The notebooks' small runs (colab/pyramid_and_resizer.ipynb runs exactly these commands).
PYRAMID_SMALL = ["--config", "experiments/artist50_pyramid.py:adaptive,smoke", "--config.model.name=resnet_mini"]
RESIZER_SMALL = ["--config", "experiments/cifar10_resizer.py:smoke", "--config.model.name=resnet_mini"]


def finished_run(tmp_path_factory: pytest.TempPathFactory, name: str, args: list[str]) -> pathlib.Path:
    """The workdir of `python -m artjax.main ARGS`, trained by the first worker that asks."""
    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = shared.parent  # every worker's base directory sits in the session's
    workdir, done = shared / "runs" / name, shared / "runs" / f"{name}.done"
    workdir.parent.mkdir(exist_ok=True)
    with open(shared / "runs" / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            result = subprocess.run([sys.executable, "-m", "artjax.main", *args, "--workdir", str(workdir)],
                                    cwd=ROOT, capture_output=True, text=True, timeout=900)
            assert result.returncode == 0, result.stderr[-3000:]
            done.touch()
    return workdir


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory) -> pathlib.Path:
    """A finished `experiments/quickstart.py:smoke` run."""
    return finished_run(tmp_path_factory, "quickstart_smoke", ["--config", "experiments/quickstart.py:smoke"])


@pytest.fixture(scope="session")
def pyramid_small_run(tmp_path_factory) -> pathlib.Path:
    """A finished adaptive-pyramid smoke run on resnet_mini."""
    return finished_run(tmp_path_factory, "pyramid_small", PYRAMID_SMALL)


@pytest.fixture(scope="session")
def resizer_small_run(tmp_path_factory) -> pathlib.Path:
    """A finished Resizer + CBAM smoke run on resnet_mini."""
    return finished_run(tmp_path_factory, "resizer_small", RESIZER_SMALL)
