"""The training loop: NaN stop with the checkpoint intact, early stopping, resume from an epoch's
checkpoint, and bitwise-exact resume of a CLI run after SIGKILL in the middle of an epoch."""

import json
import pathlib
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest
from flax import nnx

from artjax.config import load_config
from artjax.runs.restore import load_run
from artjax.train import loop

ROOT = pathlib.Path(__file__).parents[2]
SMOKE = str(ROOT / "experiments" / "quickstart.py") + ":smoke"


def _smoke(**overrides):
    config = load_config(SMOKE)
    for key, value in overrides.items():
        section, name = key.split("__")
        config[section][name] = value
    return config


def test_nan_loss_stops_naming_the_step_and_keeps_the_last_checkpoint(tmp_path):
    loop.run(_smoke(train__epochs=1), str(tmp_path))
    saved = sorted(p.name for p in (tmp_path / "checkpoints").iterdir())
    with pytest.raises(loop.NonFiniteLoss, match=r"at step \d+"):
        loop.run(_smoke(train__epochs=2, optimizer__learning_rate=1e8, train__log_every_steps=1), str(tmp_path))
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == saved
    assert load_run(str(tmp_path), which="latest").step == int(saved[-1])


def test_early_stopping_ends_the_run_and_the_run_reports_finished(tmp_path, capsys):
    # lr 0: only BatchNorm statistics move, so accuracy soon fails to improve.
    config = _smoke(train__epochs=8, optimizer__learning_rate=0.0, train__early_stop_patience=1)
    result = loop.run(config, str(tmp_path))
    evals = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    accuracy = [e["accuracy"] for e in evals if e["split"] == "val"]
    first_stale = next(i for i in range(1, len(accuracy)) if accuracy[i] <= max(accuracy[:i]))
    assert len(accuracy) == first_stale + 1 < 8
    assert "early stop" in capsys.readouterr().out
    again = loop.run(config, str(tmp_path))
    assert again.step == result.step and "is finished" in capsys.readouterr().out


def test_a_run_stopped_after_an_epoch_resumes_from_that_checkpoint(tmp_path, capsys):
    loop.run(_smoke(train__epochs=1), str(tmp_path))  # stops where epoch 1 saves its checkpoint
    loop.run(_smoke(train__epochs=3), str(tmp_path))
    assert "resuming from checkpoint at step 6 (epoch 2/3)" in capsys.readouterr().out  # 96 / 16 steps
    evals = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [e["epoch"] for e in evals if e["split"] == "val"] == [1, 2, 3]


def _cli(workdir):
    return [sys.executable, "-m", "artjax.main", "--config", SMOKE, "--workdir", str(workdir),
            "--config.train.epochs=3", "--config.checkpoint.every_steps=2", "--config.mix.prob=0.5",
            "--config.mix.cutmix_alpha=1.0", "--config.checkpoint.keep=50"]


def _params(workdir):
    state = nnx.state(load_run(str(workdir), which="latest").model, nnx.Param)
    return [np.asarray(x) for x in jax.tree.leaves(state)]


# 6 steps per epoch (96 paintings, batch 16): step 8 is inside epoch 2, after epoch 1's evaluation,
# so the resumed run restores the data iterator mid-epoch and the metrics logged before the kill.
KILL_AFTER = 8


def test_sigkill_mid_epoch_then_resume_is_bitwise_identical(tmp_path):
    subprocess.run(_cli(tmp_path / "straight"), cwd=ROOT, check=True, capture_output=True, timeout=600)
    killed = tmp_path / "killed"
    proc = subprocess.Popen(_cli(killed), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while not (killed / "checkpoints" / str(KILL_AFTER)).is_dir():
        assert proc.poll() is None and time.time() < deadline, f"run ended before step {KILL_AFTER}"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    latest = max(int(p.name) for p in (killed / "checkpoints").iterdir() if p.name.isdigit())
    resumed = subprocess.run(_cli(killed), cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert f"resuming from checkpoint at step {latest} " in resumed.stdout
    for a, b in zip(_params(tmp_path / "straight"), _params(killed), strict=True):
        np.testing.assert_array_equal(a, b)
    val = lambda d: [r for r in map(json.loads, (d / "metrics.jsonl").read_text().splitlines())  # noqa: E731
                     if r["split"] == "val"]
    assert [r["epoch"] for r in val(killed)] == [1, 2, 3]  # one evaluation per epoch, none repeated
    assert val(tmp_path / "straight") == val(killed)
