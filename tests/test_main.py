"""The CLI end to end: a tiny quickstart trains, checkpoints, resumes and reports; config errors."""

import json
import pathlib
import signal
import subprocess
import sys
import time

import pytest

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


def test_smoke_quickstart_trains_checkpoints_and_reports_when_finished(tmp_path):
    workdir = tmp_path / "run"
    first = _cli("--config", QUICKSTART + ":smoke", "--workdir", str(workdir))
    assert first.returncode == 0, first.stderr[-3000:]
    evals = _evals(workdir)
    assert [e["epoch"] for e in evals] == [1, 2]
    assert 0.0 <= evals[-1]["accuracy"] <= 1.0 and "macro_f1" in evals[-1]
    assert (workdir / "checkpoints").is_dir() and json.loads((workdir / "config.json").read_text())
    assert json.loads((workdir / "classes.json").read_text())["class_names"][0] == "horizon"

    again = _cli("--config", QUICKSTART + ":smoke", "--workdir", str(workdir))
    assert again.returncode == 0, again.stderr[-3000:]
    assert "is finished" in again.stdout and "accuracy=" in again.stdout
    assert len(_evals(workdir)) == 2  # nothing retrained


def test_killed_run_resumes_from_its_checkpoint(tmp_path):
    workdir = tmp_path / "run"
    args = [sys.executable, "-m", "artjax.main", "--config", QUICKSTART + ":smoke", "--workdir", str(workdir),
            "--config.train.epochs=4"]
    proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 300
    while not any(p.name.isdigit() for p in (workdir / "checkpoints").glob("*")):  # epoch 1 saved
        assert proc.poll() is None and time.time() < deadline, proc.stdout.read()[-3000:]
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    result = _cli("--config", QUICKSTART + ":smoke", "--workdir", str(workdir), "--config.train.epochs=4")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "resuming from checkpoint at step" in result.stdout
    assert [e["epoch"] for e in _evals(workdir)] == [1, 2, 3, 4]
