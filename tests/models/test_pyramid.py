"""Pyramid pooling: the combination rules against hand-computed values, one batched call."""

import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from artjax.models.pyramid import Pyramid, combine_levels, default_level_weights


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
