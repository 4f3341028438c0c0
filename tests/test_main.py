"""The CLI end to end: a tiny quickstart trains, checkpoints and reports; config errors. A CLI run
killed and resumed: tests/train/test_loop.py."""

import json
import pathlib
import shutil
import subprocess
import sys

import numpy as np
import pytest

from artjax.config import load_config

ROOT = pathlib.Path(__file__).parents[1]
QUICKSTART = str(ROOT / "experiments" / "quickstart.py")


def _cli(*args, timeout=600):
    return subprocess.run([sys.executable, "-m", "artjax.main", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)


def _evals(workdir):
    lines = (workdir / "metrics.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r["split"] == "val"]


def test_typo_in_override_exits_2_with_a_suggestion(tmp_path):
    result = _cli("--config", QUICKSTART, "--workdir", str(tmp_path), "--config.optimizer.lerning_rate=0.1")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "optimizer.lerning_rate" in lines[0] and "optimizer.learning_rate" in lines[0]


@pytest.mark.parametrize("args, needle", [
    (("--config", "experiments/nope.py"), "no experiment file 'experiments/nope.py'"),
    (("--config", QUICKSTART + ":smok"), "unknown variant 'smok'"),
    (("--config", QUICKSTART, "--config.optimizer.learning_rate=abc"), "learning_rate"),
    (("--config", QUICKSTART, "--config.optimizer.name=sgdd"), "optimizer.name"),
])
def test_config_errors_are_one_line(tmp_path, args, needle):
    result = _cli(*args, "--workdir", str(tmp_path))
    assert result.returncode == 2
    assert needle in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_smoke_quickstart_trains_checkpoints_and_reports_when_finished(smoke_run, tmp_path):
    # smoke_run (conftest.py) is `python -m artjax.main --config experiments/quickstart.py:smoke`.
    evals = _evals(smoke_run)
    assert [e["epoch"] for e in evals] == [1, 2]
    last = evals[-1]
    confusion = np.array(last["confusion_matrix"])
    assert last["count"] == confusion.sum() == load_config(QUICKSTART + ":smoke").data.painters.num_val
    assert last["accuracy"] == pytest.approx(np.trace(confusion) / confusion.sum())
    assert last["per_class"]["support"] == confusion.sum(axis=1).tolist()
    assert last["accuracy"] <= last["top5_accuracy"] and "macro_f1" in last
    assert any(p.name.isdigit() for p in (smoke_run / "checkpoints").iterdir())
    assert json.loads((smoke_run / "config.json").read_text())["train"]["epochs"] == 2
    assert json.loads((smoke_run / "classes.json").read_text())["class_names"][0] == "horizon"

    copy = shutil.copytree(smoke_run, tmp_path / "run")  # the shared run stays as trained
    again = _cli("--config", QUICKSTART + ":smoke", "--workdir", str(copy))
    assert again.returncode == 0, again.stderr[-3000:]
    assert "is finished" in again.stdout and f"accuracy={last['accuracy']:.4f}" in again.stdout
    assert len(_evals(copy)) == 2  # nothing retrained
