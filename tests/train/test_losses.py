"""Losses against torch.nn.CrossEntropyLoss / BCEWithLogitsLoss on the same numbers."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from sklearn.utils.class_weight import compute_class_weight

from artjax.train import losses

torch = pytest.importorskip("torch")  # parity with PyTorch; the 3.12 job runs without it

RNG = np.random.default_rng(0)
B, C = 12, 5
LOGITS = (RNG.normal(size=(B, C)) * 3).astype(np.float32)
LABELS = RNG.integers(0, C, size=B).astype(np.int32)
WEIGHTS = RNG.uniform(0.2, 3.0, size=C).astype(np.float32)
SOFT = RNG.dirichlet(np.ones(C), size=B).astype(np.float32)


def _torch_ce(logits, targets, weights=None, smoothing=0.0):
    fn = torch.nn.CrossEntropyLoss(weight=None if weights is None else torch.tensor(weights),
                                   label_smoothing=smoothing)
    return float(fn(torch.tensor(logits), torch.tensor(targets, dtype=torch.long if targets.ndim == 1 else None)))


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
@pytest.mark.parametrize("soft", [False, True])
def test_cross_entropy_matches_torch(weighted, smoothing, soft):
    weights = WEIGHTS if weighted else None
    targets = SOFT if soft else LABELS
    ours = losses.cross_entropy(jnp.asarray(LOGITS), jnp.asarray(targets), weights=weights,
                                label_smoothing=smoothing)
    assert float(ours) == pytest.approx(_torch_ce(LOGITS, targets, weights, smoothing), rel=1e-6)


def test_weighted_mean_normalisation_differs_between_label_kinds_as_in_torch():
    # One-hot soft targets carry the same information as labels, yet torch divides the weighted
    # hard-label loss by the sum of the weights and the soft one by the batch size.
    one_hot = np.eye(C, dtype=np.float32)[LABELS]
    hard = float(losses.cross_entropy(jnp.asarray(LOGITS), jnp.asarray(LABELS), weights=WEIGHTS))
    soft = float(losses.cross_entropy(jnp.asarray(LOGITS), jnp.asarray(one_hot), weights=WEIGHTS))
    assert soft == pytest.approx(hard * WEIGHTS[LABELS].sum() / B, rel=1e-6)
    assert soft == pytest.approx(_torch_ce(LOGITS, one_hot, WEIGHTS), rel=1e-6)


@pytest.mark.parametrize("soft", [False, True])
def test_mask_drops_padding_rows(soft):
    targets = SOFT if soft else LABELS
    mask = np.ones(B, np.float32)
    mask[-4:] = 0
    garbage = np.array(targets)
    garbage[-4:] = 0 if not soft else 0.5  # padding content must not matter
    ours = losses.cross_entropy(jnp.asarray(LOGITS), jnp.asarray(garbage), weights=WEIGHTS, label_smoothing=0.1,
                                mask=jnp.asarray(mask))
    expected = _torch_ce(LOGITS[:-4], targets[:-4], WEIGHTS, 0.1)
    assert float(ours) == pytest.approx(expected, rel=1e-6)
    empty = losses.cross_entropy(jnp.asarray(LOGITS), jnp.asarray(targets), mask=jnp.zeros(B))
    assert float(empty) == 0.0


def test_cross_entropy_jits_and_differentiates_like_torch():
    grad = jax.jit(jax.grad(lambda z: losses.cross_entropy(z, jnp.asarray(LABELS), weights=WEIGHTS,
                                                           label_smoothing=0.1)))(jnp.asarray(LOGITS))
    logits = torch.tensor(LOGITS, requires_grad=True)
    torch.nn.CrossEntropyLoss(weight=torch.tensor(WEIGHTS), label_smoothing=0.1)(
        logits, torch.tensor(LABELS, dtype=torch.long)).backward()
    np.testing.assert_allclose(np.asarray(grad), logits.grad.numpy(), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("shape", [(B,), (B, 1)])
def test_sigmoid_bce_matches_torch(shape):
    logits = (RNG.normal(size=shape) * 4).astype(np.float32)
    labels = RNG.integers(0, 2, size=B).astype(np.int32)
    expected = torch.nn.BCEWithLogitsLoss()(torch.tensor(logits).reshape(B), torch.tensor(labels, dtype=torch.float32))
    ours = losses.sigmoid_binary_cross_entropy(jnp.asarray(logits), jnp.asarray(labels))
    assert float(ours) == pytest.approx(float(expected), rel=1e-6)
    mask = np.r_[np.ones(B - 3), np.zeros(3)].astype(np.float32)
    masked = losses.sigmoid_binary_cross_entropy(jnp.asarray(logits), jnp.asarray(labels), mask=jnp.asarray(mask))
    expected = torch.nn.BCEWithLogitsLoss()(torch.tensor(logits).reshape(B)[:-3],
                                            torch.tensor(labels[:-3], dtype=torch.float32))
    assert float(masked) == pytest.approx(float(expected), rel=1e-6)


def test_class_weight_rules():
    counts = np.array([500, 100, 20, 5])
    labels = np.repeat(np.arange(4), counts)
    balanced = compute_class_weight("balanced", classes=np.arange(4), y=labels)
    np.testing.assert_allclose(losses.class_weights(counts, "inverse"), balanced, rtol=1e-6)
    np.testing.assert_array_equal(losses.class_weights(counts, "none"), np.ones(4))
    sqrt = losses.class_weights(counts, "inverse_sqrt")
    np.testing.assert_allclose(sqrt * np.sqrt(counts), sqrt[0] * np.sqrt(counts[0]), rtol=1e-6)
    effective = losses.class_weights(counts, "effective_number", beta=0.999)
    cui = (1 - 0.999) / (1 - 0.999 ** counts)
    np.testing.assert_allclose(effective / effective[0], cui / cui[0], rtol=1e-6)
    for rule in losses.RULES:  # every rule keeps the average training example at weight 1
        assert np.sum(losses.class_weights(counts, rule) * counts) == pytest.approx(counts.sum(), rel=1e-6)
    assert np.all(np.diff(effective) > 0) and np.all(np.diff(sqrt) > 0)  # rarer classes weigh more


def test_class_weight_errors_name_the_problem():
    with pytest.raises(ValueError, match="rule"):
        losses.class_weights([1, 2], "focal")
    with pytest.raises(ValueError, match=r"classes \[1\]"):
        losses.class_weights([3, 0, 2], "inverse")
    with pytest.raises(ValueError, match="do not match"):
        losses.cross_entropy(jnp.zeros((2, 3)), jnp.zeros((3,), jnp.int32))
