"""Pyramid pooling: the combination rules against hand-computed values, one batched call."""

import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from artjax.models.pyramid import Pyramid, combine_levels, default_level_weights
from artjax.train import freeze


class MeanColour(nnx.Module):
    """A fixed 'backbone': the logits of a crop are its mean RGB (3 classes); records calls."""

    stage_names = ("head",)
    preprocessing = None

    def __init__(self):
        self.calls = []

    def __call__(self, x):
        self.calls.append(x.shape)
        return x.mean(axis=(1, 2))


def _crops(b=2, levels=(1, 2, 5), size=4, seed=0):
    n = sum(k * k for k in levels)
    rng = np.random.default_rng(seed)
    return rng.normal(size=(b, n, size, size, 3)).astype(np.float32) * 3


def _softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _levels(x, levels):
    logits = x.mean(axis=(2, 3))
    out, start = [], 0
    for k in levels:
        out.append(logits[:, start:start + k * k])
        start += k * k
    return out


def test_default_weights_are_s1s_25_4_1():
    np.testing.assert_allclose(default_level_weights((1, 2, 5)), np.array([25, 4, 1]) / 30)


def test_soft_rule_matches_hand_computation_and_runs_the_backbone_once():
    backbone = MeanColour()
    model = Pyramid(backbone, rule="soft")
    x = _crops()
    got = np.exp(np.asarray(model(jnp.asarray(x))))
    w = np.array([25, 4, 1]) / 30
    expected = sum(wi * _softmax(z).mean(axis=1) for wi, z in zip(w, _levels(x, (1, 2, 5))))
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    assert backbone.calls == [(2 * 30, 4, 4, 3)]


def test_the_soft_rule_is_combine_levels_on_the_crop_probabilities():
    """The pyramid evaluation view of a plain backbone combines through the same function."""
    x = _crops(seed=3)
    probs = _softmax(x.mean(axis=(2, 3)))
    combined = combine_levels(jnp.asarray(probs), (1, 2, 5), default_level_weights((1, 2, 5)))
    np.testing.assert_allclose(np.exp(np.asarray(Pyramid(MeanColour())(jnp.asarray(x)))), combined, rtol=1e-5,
                               atol=1e-6)


def test_hard_rule_counts_weighted_votes():
    model = Pyramid(MeanColour(), rule="hard", weights=(1, 1, 2))
    x = _crops(seed=1)
    got = np.exp(np.asarray(model(jnp.asarray(x))))
    w = np.array([1, 1, 2]) / 4
    expected = sum(wi * np.eye(3)[z.argmax(-1)].mean(axis=1) for wi, z in zip(w, _levels(x, (1, 2, 5))))
    np.testing.assert_allclose(got, expected, atol=1e-6)


def test_adaptive_rule_learns_softmax_weights():
    model = Pyramid(MeanColour(), levels=(1, 2), rule="adaptive")
    model.level_logits[...] = jnp.array([0.3, -0.2])
    x = _crops(levels=(1, 2), seed=2)
    got = np.exp(np.asarray(model(jnp.asarray(x))))
    w = _softmax(np.array([0.3, -0.2]))
    expected = sum(wi * _softmax(z).mean(axis=1) for wi, z in zip(w, _levels(x, (1, 2))))
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    grads = nnx.grad(lambda m: -m(jnp.asarray(x))[:, 0].mean())(model)
    assert float(jnp.abs(grads.level_logits[...]).max()) > 0


def test_chunked_call_equals_one_call():
    x = jnp.asarray(_crops(b=3))
    chunked = MeanColour()
    np.testing.assert_allclose(Pyramid(chunked, chunk_size=16)(x), Pyramid(MeanColour())(x), rtol=1e-6)
    assert [s[0] for s in chunked.calls] == [16] * 5 + [10]


def test_wrong_crop_count_and_bad_options_are_named():
    with pytest.raises(ValueError, match="30 crops"):
        Pyramid(MeanColour())(jnp.zeros((1, 5, 4, 4, 3)))
    with pytest.raises(ValueError, match="rule"):
        Pyramid(MeanColour(), rule="median")
    with pytest.raises(ValueError, match="weights"):
        Pyramid(MeanColour(), weights=(1, 2))


class TinyNet(nnx.Module):
    """A trainable two-stage 'backbone' (mean colour -> stem -> head, 3 classes); the smoke
    variant in tests/test_experiments.py runs the paper pyramid on resnet_mini."""

    stage_names = ("stem", "head")
    preprocessing = None

    def __init__(self, seed=0):
        rngs = nnx.Rngs(seed)
        self.stem, self.head = nnx.Linear(3, 8, rngs=rngs), nnx.Linear(8, 3, rngs=rngs)

    def __call__(self, x):
        return self.head(jnp.tanh(self.stem(x.mean(axis=(1, 2)))))


def _paper_pyramid(levels=(1, 2, 4)):
    backbone = TinyNet()
    return backbone, Pyramid(backbone, levels=levels, per_level_backbone=True)


def test_per_level_backbones_are_separate_copies_of_one_initialisation():
    backbone, model = _paper_pyramid()
    single = freeze.count_params(backbone)
    assert freeze.count_params(model) == 3 * single  # one backbone per level: parameters triple
    names = ("backbone", "backbone_2x2", "backbone_4x4")
    states = [nnx.to_flat_state(nnx.state(getattr(model, n), nnx.Param)) for n in names]
    for flat in states[1:]:  # equal values at the start...
        assert [p for p, _ in flat] == [p for p, _ in states[0]]
        for (_, a), (_, b) in zip(states[0], flat):
            np.testing.assert_array_equal(np.asarray(a.get_value()), np.asarray(b.get_value()))
    # ...in separate variables: a change to one level's backbone leaves the others as they were.
    first = states[1][0][1]
    first.set_value(first.get_value() + 1.0)
    np.testing.assert_array_equal(np.asarray(states[0][0][1].get_value()) + 1.0, np.asarray(first.get_value()))
    np.testing.assert_array_equal(np.asarray(states[0][0][1].get_value()), np.asarray(states[2][0][1].get_value()))


def test_each_level_goes_through_its_own_backbone_and_freezing_applies_to_every_copy():
    _, model = _paper_pyramid()
    for name in ("backbone_2x2", "backbone_4x4"):  # make the copies differ, so the routing shows
        for _, variable in nnx.to_flat_state(nnx.state(getattr(model, name), nnx.Param)):
            variable.set_value(variable.get_value() * 1.5)
    x = jnp.asarray(_crops(b=2, levels=(1, 2, 4), size=4))
    got = np.asarray(model.crop_logits(x))
    for name, (start, stop) in zip(("backbone", "backbone_2x2", "backbone_4x4"), ((0, 1), (1, 5), (5, 21))):
        part = x[:, start:stop].reshape(-1, 4, 4, 3)
        np.testing.assert_allclose(got[:, start:stop], np.asarray(getattr(model, name)(part)).reshape(2, stop - start, -1),
                                   rtol=1e-4, atol=1e-5)
    trainable = freeze.trainable_filter(("stem",), model.stage_names, model=model)
    frozen = {path[0] for path, v in nnx.to_flat_state(nnx.state(model, nnx.Param)) if not trainable(path, v)}
    assert frozen == {"backbone", "backbone_2x2", "backbone_4x4"}
    assert all(path[1] == "stem" for path, v in nnx.to_flat_state(nnx.state(model, nnx.Param))
               if not trainable(path, v))
    with pytest.raises(ValueError, match="distinct"):
        Pyramid(TinyNet(), levels=(1, 2, 2), per_level_backbone=True)
