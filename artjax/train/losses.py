"""Classification losses with PyTorch's reductions, plus class-weighting rules.

`cross_entropy` equals torch.nn.CrossEntropyLoss(weight=w, label_smoothing=s) with the default
'mean' reduction. torch normalises differently for the two target kinds, and so do we:
  integer labels y:  sum_i w[y_i] * l_i / sum_i w[y_i]   (the smoothing term has the same denominator)
  soft targets t:    sum_i sum_c w[c] * t_ic * (-log p_ic) / N   (N = number of examples, not weights)
A `mask` (1 = real example, 0 = padding) removes examples from both sums; an all-padding batch
gives 0 instead of torch's NaN.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

KINDS = ("softmax", "sigmoid")  # loss.kind: cross_entropy | sigmoid_binary_cross_entropy
RULES = ("none", "inverse", "inverse_sqrt", "effective_number")  # loss.class_weighting: class_weights


def _safe_divide(numerator: jax.Array, denominator: jax.Array) -> jax.Array:
    return jnp.where(denominator > 0, numerator / jnp.where(denominator > 0, denominator, 1.0), 0.0)


def cross_entropy(logits: jax.Array, targets: jax.Array, *, weights: jax.Array | None = None,
                  label_smoothing: float = 0.0, mask: jax.Array | None = None) -> jax.Array:
    """Mean cross-entropy of (B, C) logits against (B,) int labels or (B, C) soft targets."""
    logits = logits.astype(jnp.float32)
    num_classes = logits.shape[-1]
    log_p = jax.nn.log_softmax(logits, axis=-1)
    class_w = jnp.ones((num_classes,), jnp.float32) if weights is None else jnp.asarray(weights, jnp.float32)
    example_w = jnp.ones(logits.shape[:1], jnp.float32) if mask is None else mask.astype(jnp.float32)

    if jnp.issubdtype(targets.dtype, jnp.integer):
        if targets.shape != logits.shape[:1]:
            raise ValueError(f"labels of shape {targets.shape} do not match logits of shape {logits.shape}")
        labels = jnp.where(example_w > 0, targets, 0)  # padding rows may carry any label
        label_w = class_w[labels] * example_w
        nll = -jnp.take_along_axis(log_p, labels[:, None], axis=-1)[:, 0]
        smooth = -jnp.sum(log_p * class_w, axis=-1)  # torch: weights enter the smoothing term per class
        denominator = jnp.sum(label_w)
        loss = (1.0 - label_smoothing) * jnp.sum(label_w * nll)
        loss += label_smoothing / num_classes * jnp.sum(example_w * smooth)
        return _safe_divide(loss, denominator)

    if targets.shape != logits.shape:
        raise ValueError(f"soft targets of shape {targets.shape} do not match logits of shape {logits.shape}")
    targets = targets.astype(jnp.float32)
    if label_smoothing:
        targets = targets * (1.0 - label_smoothing) + label_smoothing / num_classes
    per_example = -jnp.sum(log_p * targets * class_w, axis=-1)
    return _safe_divide(jnp.sum(example_w * per_example), jnp.sum(example_w))


def sigmoid_binary_cross_entropy(logits: jax.Array, labels: jax.Array, *, mask: jax.Array | None = None) -> jax.Array:
    """Mean of torch.nn.BCEWithLogitsLoss for single-logit two-class models (Keras Dense(1, sigmoid)).

    `logits` is (B,) or (B, 1); `labels` are 0/1 (int or float, also soft values in [0, 1]).
    """
    logits = logits.astype(jnp.float32)
    if logits.ndim == 2 and logits.shape[1] == 1:
        logits = logits[:, 0]
    if logits.shape != labels.shape:
        raise ValueError(f"labels of shape {labels.shape} do not match single logits of shape {logits.shape}")
    labels = labels.astype(jnp.float32)
    # -[y log s(z) + (1 - y) log(1 - s(z))] with both logs computed stably.
    per_example = -(labels * jax.nn.log_sigmoid(logits) + (1.0 - labels) * jax.nn.log_sigmoid(-logits))
    example_w = jnp.ones_like(per_example) if mask is None else mask.astype(jnp.float32)
    return _safe_divide(jnp.sum(example_w * per_example), jnp.sum(example_w))


def class_weights(label_counts: np.ndarray | list[int], rule: str, *, beta: float = 0.999) -> np.ndarray:
    """Per-class loss weights from training label counts n_c (N examples, C classes).

    'none': 1. 'inverse': N / (C n_c), scikit-learn's 'balanced'. 'inverse_sqrt': proportional to
    1 / sqrt(n_c). 'effective_number' (Cui et al., CVPR 2019): proportional to
    (1 - beta) / (1 - beta ** n_c). The last two are scaled like 'inverse' so that
    sum_c n_c w_c = N: the average training example keeps weight 1 and the loss its unweighted
    scale (Cui et al. scale to sum_c w_c = C; the factor cancels for integer labels, whose weighted
    mean divides by the weights, and only rescales the soft-target loss).
    """
    if rule not in RULES:
        raise ValueError(f"loss class-weight rule must be one of {RULES}, got {rule!r}")
    counts = np.asarray(label_counts, np.float64)
    if counts.ndim != 1 or counts.size == 0:
        raise ValueError(f"label_counts must be a non-empty 1-D list of per-class counts, got shape {counts.shape}")
    if rule == "none":
        return np.ones(counts.shape, np.float32)
    if np.any(counts <= 0):
        missing = np.flatnonzero(counts <= 0).tolist()
        raise ValueError(f"classes {missing} have no training examples; weighting rule {rule!r} needs every class")
    if rule == "inverse":
        raw = 1.0 / counts
    elif rule == "inverse_sqrt":
        raw = 1.0 / np.sqrt(counts)
    else:
        if not 0.0 < beta < 1.0:
            raise ValueError(f"effective_number beta must be in (0, 1), got {beta}")
        raw = (1.0 - beta) / (1.0 - beta ** counts)
    return (raw * counts.sum() / np.sum(raw * counts)).astype(np.float32)
