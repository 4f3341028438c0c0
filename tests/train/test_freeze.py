"""Freeze filters on a small stage-named NNX model, through nnx.Optimizer and nnx.DiffState."""

import re

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from artjax.train import freeze


class _Block(nnx.Module):
    def __init__(self, din, dout, rngs):
        self.linear = nnx.Linear(din, dout, rngs=rngs)
        self.bn = nnx.BatchNorm(dout, rngs=rngs)

    def __call__(self, x):
        return nnx.relu(self.bn(self.linear(x)))


class _Net(nnx.Module):
    stage_names = ("stem", "stage1", "stage2", "head")

    def __init__(self, rngs):
        self.stem = _Block(3, 8, rngs)
        self.stage1 = _Block(8, 8, rngs)
        self.stage2 = nnx.List([_Block(8, 8, rngs), _Block(8, 8, rngs)])
        self.head = nnx.Linear(8, 4, rngs=rngs)

    def __call__(self, x):
        x = self.stage1(self.stem(x))
        for block in self.stage2:
            x = block(x)
        return self.head(x)


def _leaves(tree):
    return {"/".join(map(str, p)): np.array(v) for p, v in nnx.to_flat_state(tree)}


def _train(freeze_entries, frozen_bn="pytorch", steps=3):
    model = _Net(nnx.Rngs(0))
    trainable = freeze.trainable_filter(freeze_entries, model.stage_names, model=model)
    # AdamW decays every parameter it holds: a frozen one that leaked in would move.
    optimizer = nnx.Optimizer(model, optax.adamw(1e-2, weight_decay=0.1), wrt=trainable)
    model.train()
    freeze.apply_frozen_bn(model, freeze_entries, frozen_bn)
    graphdef, state = nnx.split((model, optimizer))
    before = _leaves(nnx.state(model))

    @jax.jit
    def step(state, x, y):
        model, optimizer = nnx.merge(graphdef, state)

        def loss_fn(model):
            return optax.softmax_cross_entropy_with_integer_labels(model(x), y).mean()

        loss, grads = nnx.value_and_grad(loss_fn, argnums=nnx.DiffState(0, trainable))(model)
        optimizer.update(model, grads)
        return nnx.state((model, optimizer)), loss, grads

    rng = np.random.default_rng(0)
    for _ in range(steps):
        x = jnp.asarray(rng.normal(size=(6, 3)).astype(np.float32))
        y = jnp.asarray(rng.integers(0, 4, size=6))
        state, _, grads = step(state, x, y)
    model, optimizer = nnx.merge(graphdef, state)
    return trainable, before, _leaves(nnx.state(model)), optimizer, grads


def test_frozen_params_unchanged_trainable_changed_and_no_optimizer_state():
    trainable, before, after, optimizer, grads = _train(("stem", "stage1"))
    params = _leaves(nnx.state(_Net(nnx.Rngs(0)), nnx.Param))
    for path in params:
        if path.startswith(("stem/", "stage1/")):
            assert np.array_equal(before[path], after[path]), path
        else:
            assert not np.array_equal(before[path], after[path]), path
    grad_paths = set(_leaves(grads))
    assert grad_paths and not any(p.startswith(("stem/", "stage1/")) for p in grad_paths)
    opt_paths = list(_leaves(nnx.state(optimizer.opt_state)))
    assert any("stage2" in p for p in opt_paths) and any("head" in p for p in opt_paths)
    assert not any("stem" in p or "stage1" in p for p in opt_paths)


def test_pytorch_bn_mode_keeps_updating_frozen_stats_keras_mode_does_not():
    _, before, after, _, _ = _train(("stem",), "pytorch")
    assert not np.array_equal(before["stem/bn/mean"], after["stem/bn/mean"])
    _, before, after, _, _ = _train(("stem",), "keras")
    assert np.array_equal(before["stem/bn/mean"], after["stem/bn/mean"])
    assert np.array_equal(before["stem/bn/var"], after["stem/bn/var"])
    assert not np.array_equal(before["stage1/bn/mean"], after["stage1/bn/mean"])  # not frozen


def test_regex_entries_and_counts():
    model = _Net(nnx.Rngs(0))
    trainable = freeze.trainable_filter(["stem", r"stage2/0/.*", r".*/bn/.*"], model.stage_names, model=model)
    paths = ["/".join(map(str, path)) for path, _ in nnx.to_flat_state(nnx.state(model, nnx.Param))]
    frozen = [path for path in paths if trainable.frozen(path.split("/"))]
    assert frozen == ["stage1/bn/bias", "stage1/bn/scale", "stage2/0/bn/bias", "stage2/0/bn/scale",
                      "stage2/0/linear/bias", "stage2/0/linear/kernel", "stage2/1/bn/bias", "stage2/1/bn/scale",
                      "stem/bn/bias", "stem/bn/scale", "stem/linear/bias", "stem/linear/kernel"]
    total = freeze.count_params(model)
    sizes = {"stem": 3 * 8 + 8 + 16, "stage1": 8 * 8 + 8 + 16, "block": 8 * 8 + 8 + 16, "head": 8 * 4 + 4}
    assert total == sizes["stem"] + sizes["stage1"] + 2 * sizes["block"] + sizes["head"]
    # Trainable: stage1 linear, stage2/1 linear, head.
    assert freeze.count_params(model, trainable) == 2 * (8 * 8 + 8) + sizes["head"]
    assert freeze.count_params(model, freeze.trainable_filter((), model.stage_names)) == total
    # BatchNorm statistics are never trainable, even with nothing frozen.
    assert freeze.count_params(model, freeze.trainable_filter((), model.stage_names)) < \
        freeze.count_params(model, nnx.Variable)


def test_filter_is_hashable_and_compares_by_value():
    a = freeze.trainable_filter(("stem",), _Net.stage_names)
    assert a == freeze.trainable_filter(["stem"], _Net.stage_names) and hash(a) == hash(a)


@pytest.mark.parametrize("entry, message", [
    ("stage3", "not a stage of this model; stages: stem, stage1, stage2, head"),
    ("stage[", "neither a stage"),
    ("stage9/.*", "matches no parameter path"),
])
def test_bad_entries_name_the_entry_and_the_stages(entry, message):
    model = _Net(nnx.Rngs(0))
    with pytest.raises(ValueError, match=re.escape(repr(entry))) as info:
        freeze.trainable_filter(("stem", entry), model.stage_names, model=model)
    assert message in str(info.value)
    with pytest.raises(ValueError, match="frozen_bn"):
        freeze.apply_frozen_bn(model, (), "tf")
