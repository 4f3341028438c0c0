"""EMA weights (train.ema_decay): the average follows its formula step by step, a run interrupted
and resumed ends bitwise equal to an uninterrupted one, and a best checkpoint chosen by an ema_
metric is restored with the averaged weights."""

import json
import pathlib

import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest
from flax import nnx

from artjax.config import ConfigError, load_config, validate
from artjax.runs.restore import load_run
from artjax.train import ema, loop, setup, steps

ROOT = pathlib.Path(__file__).parents[2]
SMOKE = str(ROOT / "experiments" / "quickstart.py") + ":smoke"


def _config(**train):
    config = load_config(SMOKE)
    config.train.ema_decay = 0.9
    config.train.update(train)
    return config


def _tracked(model, trainable):
    return {path: np.asarray(v.get_value()) for path, v in nnx.to_flat_state(nnx.state(model, ema.tracked(trainable)))}


def _averaged(optimizer):
    return {path: np.asarray(v.get_value()) for path, v in nnx.to_flat_state(nnx.state(optimizer.ema.values))}


def test_the_average_after_one_and_two_steps_is_the_formula_over_the_recorded_weights():
    config = _config(ema_warmup=True)
    built = setup.build(config, num_classes=6, steps_per_epoch=1)
    graphdef, _, state = setup.split_modes(built, config)
    step = steps.make_train_step(graphdef, config, trainable=built.trainable, preprocessing=built.model.preprocessing,
                                 num_classes=6, class_weights=None, state_sharding=None)
    rng = np.random.default_rng(0)
    weights = [_tracked(nnx.merge(graphdef, state)[0], built.trainable)]
    for _ in range(2):
        batch = {"image": rng.integers(0, 256, (16, 32, 32, 3), dtype=np.uint8),
                 "label": rng.integers(0, 6, 16).astype(np.int32)}
        state, _ = step(state, batch)
        weights.append(_tracked(nnx.merge(graphdef, jax.tree.map(lambda x: x.copy(), state))[0], built.trainable))
    expected = dict(weights[0])
    for n, current in enumerate(weights[1:]):
        decay = np.float32(min(0.9, (1 + n) / (10 + n)))  # the warm-up: 0.1, then 2/11
        expected = {k: e - (np.float32(1) - decay) * (e - current[k]) for k, e in expected.items()}
    averaged = _averaged(nnx.merge(graphdef, state)[1])
    assert averaged.keys() == expected.keys() and any(k[-1] == "mean" for k in averaged)  # BatchNorm statistics too
    for key, value in expected.items():
        np.testing.assert_allclose(averaged[key], value, rtol=1e-6, atol=1e-7, err_msg=str(key))
    moved = [k for k in expected if not np.array_equal(weights[2][k], weights[0][k])]
    assert moved and all(not np.array_equal(averaged[k], weights[2][k]) for k in moved)  # an average, not a copy


def _state(workdir, step):
    return ocp.StandardCheckpointer().restore(pathlib.Path(workdir, "checkpoints", str(step), "state").absolute())


def _bits(x):
    return jax.random.key_data(x) if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key) else x


def _value(leaf):
    return leaf["value"] if isinstance(leaf, dict) else leaf


def _rows(workdir):
    rows = [json.loads(line) for line in pathlib.Path(workdir, "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in row.items() if k != "images_per_sec"} for row in rows]


def test_an_interrupted_ema_run_resumes_bitwise_and_its_ema_best_is_restored_averaged(tmp_path, monkeypatch):
    config = _config(log_every_steps=1)
    config.checkpoint.best_metric = "ema_accuracy"
    whole, struck = str(tmp_path / "whole"), str(tmp_path / "struck")
    loop.run(config, whole)
    stop_now = loop._stop_now
    monkeypatch.setattr(loop, "_stop_now", lambda stop, step, every: step == 8 or stop_now(stop, step, every=every))
    with pytest.raises(loop.Interrupted):  # saves at step 8, in the middle of epoch 2
        loop.run(config, struck)
    monkeypatch.setattr(loop, "_stop_now", stop_now)
    loop.run(config, struck)

    final = 12  # 2 epochs of 96 / 16 steps
    a, b = _state(whole, final), _state(struck, final)
    assert "ema" in a["1"]
    jax.tree.map(lambda x, y: np.testing.assert_array_equal(_bits(x), _bits(y)), a, b)
    assert _rows(whole) == _rows(struck)
    val = [row for row in _rows(whole) if row["split"] == "val"]
    assert all({"ema_accuracy", "ema_macro_f1", "ema_loss"} <= row.keys() for row in val)

    run = load_run(whole, which="best")
    assert run.weights == "ema" and "EMA weights" in run.checkpoint_name
    saved = _state(whole, run.step)
    restored = {path: np.asarray(v.get_value()) for path, v in nnx.to_flat_state(nnx.state(run.model, nnx.Param))}
    kernel = ("head", "fc", "kernel")
    averaged, raw = saved["1"]["ema"]["values"], saved["0"]
    for part in kernel:
        averaged, raw = averaged[part], raw[part]
    np.testing.assert_array_equal(restored[kernel], _value(averaged))
    assert not np.array_equal(restored[kernel], _value(raw))
    meta = json.loads(pathlib.Path(whole, "checkpoints", str(final), "meta", "metadata").read_text())
    assert meta["best"]["weights"] == "ema"
    with pytest.raises(loop.NotTheSameRun, match="train.ema_decay: the run has 0.9, this config 0.99"):
        loop.run(_config(ema_decay=0.99), whole)


@pytest.mark.parametrize("key, value, message", [
    ("train.ema_decay", 1.0, "must be in \\[0, 1\\)"),
    ("checkpoint.best_metric", "ema_accuracy", "needs train.ema_decay > 0"),
    ("checkpoint.weights", "ema", "needs train.ema_decay > 0"),
])
def test_bad_ema_settings_are_one_line_config_errors(key, value, message):
    config = load_config(SMOKE)
    section, name = key.split(".")
    config[section][name] = value
    with pytest.raises(ConfigError, match=message):
        validate(config)
