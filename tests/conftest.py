"""Fixtures shared across test packages."""

import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).parents[1]


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory) -> pathlib.Path:
    """A finished `experiments/quickstart.py:smoke` run (trained once per test process)."""
    workdir = tmp_path_factory.mktemp("smoke") / "run"
    result = subprocess.run([sys.executable, "-m", "artjax.main", "--config",
                             str(ROOT / "experiments" / "quickstart.py") + ":smoke", "--workdir", str(workdir)],
                            cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return workdir
