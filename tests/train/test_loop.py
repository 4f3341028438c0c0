"""The training loop: NaN stop with the checkpoint intact, early stopping, resume from an epoch's
checkpoint (kills, signals and damaged checkpoints: tests/faults/)."""

import json
import pathlib

import pytest

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
    with pytest.raises(loop.NonFiniteLoss, match=rf"at step \d+; .* the checkpoint at step {saved[-1]} is intact"):
        loop.run(_smoke(train__epochs=2, optimizer__learning_rate=1e8, train__log_every_steps=1), str(tmp_path))
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == saved
    assert load_run(str(tmp_path), which="latest").step == int(saved[-1])
    with pytest.raises(loop.NonFiniteLoss, match="no checkpoint was saved yet"):
        loop.run(_smoke(optimizer__learning_rate=1e8, train__log_every_steps=1), str(tmp_path / "fresh"))
    assert not (tmp_path / "fresh" / "config.json").exists()  # nothing written before a checkpoint


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
