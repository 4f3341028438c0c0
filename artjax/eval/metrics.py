"""Classification metrics accumulated on the device, summarised on the host.

The eval step carries a dict of count arrays through the evaluation set (`update_counts` is
jittable and ignores rows whose mask is 0, the padding of a last partial batch); `summarize`
turns the totals into scikit-learn's numbers. Zero division gives 0 (sklearn zero_division=0,
which is also what its default 'warn' returns). Macro F1 and balanced accuracy average over the
classes that occur, as sklearn does without a `labels` argument: macro F1 over classes present
in the labels or the predictions, balanced accuracy over classes present in the labels.
Single-logit (B, 1) outputs are read as a sigmoid two-class model: logit > 0 predicts class 1
(`class_logits`, the one place that reads them so).

Top-2 precision, recall and F (Jangtjik, Yeh & Hua 2016, Table 1(b); logged by every
evaluation as top2_macro_precision, top2_macro_recall, top2_f): an image's top-2 prediction is
its true class when that class is among its two highest scores (a hit), else its top-1 class.
From the confusion matrix of these predictions, per class c: recall_c = hits of c / images of c;
precision_c = hits of c / images whose top-2 prediction is c (hits of c plus the misses whose
top-1 class is c); both macro-averaged as above (over the classes that occur). top2_f is the
harmonic mean 2PR / (P + R) of the two macro averages, as the paper's F (each row of its Table 1
satisfies it), not the mean of per-class F1. Ties count in the true class's favour, as for the
top-k accuracies; with two classes every image is a hit.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

Counts = dict[str, jax.Array]
TOPK_CONFUSION = 2  # the k of the top-k confusion matrix behind the top2_* scores (module doc)
SELECTABLE = ("accuracy", "macro_f1", "loss")  # logged by every evaluation: best-checkpoint and plateau metrics
LOWER_IS_BETTER = frozenset({"loss"})  # every other logged metric is a score: higher is better


def lower_is_better(metric: str) -> bool:
    return metric.removeprefix("ema_") in LOWER_IS_BETTER  # ema_loss: the EMA weights' loss


def is_better(metric: str, new: float, old: float) -> bool:
    """Whether `new` is a strictly better value of `metric` than `old` (a tie keeps the old)."""
    return new < old if lower_is_better(metric) else new > old


def class_logits(logits: jax.Array) -> jax.Array:
    """Logits with one column per class. A one-logit sigmoid model's (..., 1) z becomes [0, z]:
    its softmax is (1 - sigmoid(z), sigmoid(z)), so it is scored like any two-class model."""
    if logits.shape[-1] == 1:
        return jnp.concatenate([jnp.zeros_like(logits), logits], axis=-1)
    return logits


def probabilities(logits: jax.Array) -> jax.Array:
    """Class probabilities of model outputs (softmax; a sigmoid model's (1 - s, s))."""
    return jax.nn.softmax(class_logits(logits.astype(jnp.float32)), axis=-1)


def init_counts(num_classes: int, k_values: Sequence[int] = (1, TOPK_CONFUSION, 5)) -> Counts:
    """Zero counts: confusion matrices of the top-1 and top-2 predictions (rows = true class),
    top-k hits per k, loss sum, examples."""
    counts = {"confusion": jnp.zeros((num_classes, num_classes), jnp.int32),
              "confusion_top2": jnp.zeros((num_classes, num_classes), jnp.int32),
              "loss_sum": jnp.zeros((), jnp.float32), "count": jnp.zeros((), jnp.int32)}
    for k in k_values:
        counts[f"top{int(k)}"] = jnp.zeros((), jnp.int32)
    return counts


def update_counts(counts: Counts, logits: jax.Array, labels: jax.Array, mask: jax.Array) -> Counts:
    """Adds a batch of (B, C) logits and (B,) int labels; rows with mask 0 count nothing."""
    logits = class_logits(logits.astype(jnp.float32))
    num_classes = counts["confusion"].shape[0]
    if logits.shape[-1] != num_classes:
        raise ValueError(f"logits have {logits.shape[-1]} classes but the counts were made for {num_classes}")
    valid = mask.astype(bool)
    labels = jnp.where(valid, labels, 0)  # padding rows may carry any label
    weight = valid.astype(jnp.int32)
    predictions = jnp.argmax(logits, axis=-1)
    true_logit = jnp.take_along_axis(logits, labels[:, None], axis=-1)
    # Rank of the true class = classes with a strictly higher logit (ties count in its favour).
    rank = jnp.sum(logits > true_logit, axis=-1)
    topk_predictions = jnp.where(rank < TOPK_CONFUSION, labels, predictions)  # module doc: top-2 scores

    def confusion(predicted: jax.Array) -> jax.Array:
        # Integer scatter-add into the flattened matrix: exact for any number of examples.
        cells = jax.ops.segment_sum(weight, labels * num_classes + predicted, num_segments=num_classes ** 2)
        return cells.reshape(num_classes, num_classes)

    nll = jax.nn.logsumexp(logits, axis=-1) - true_logit[:, 0]
    new = {"confusion": counts["confusion"] + confusion(predictions),
           "confusion_top2": counts["confusion_top2"] + confusion(topk_predictions),
           "loss_sum": counts["loss_sum"] + jnp.sum(jnp.where(valid, nll, 0.0)),
           "count": counts["count"] + jnp.sum(weight)}
    for key in counts:
        if key.startswith("top"):
            new[key] = counts[key] + jnp.sum(weight * (rank < int(key[3:])))
    return new


def _divide(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    return np.divide(numerator, denominator, out=np.zeros(np.shape(numerator)), where=denominator > 0)


def summarize_confusion(confusion: Any, class_names: Sequence[str] | None = None) -> dict[str, Any]:
    """Everything a confusion matrix (rows = true class) gives: scikit-learn's classification
    report (accuracy; per class precision, recall, F1, support; their macro and support-weighted
    averages) and balanced accuracy, as plain Python numbers and lists."""
    confusion = np.asarray(confusion, np.int64)
    tp = np.diag(confusion).astype(np.float64)
    support = confusion.sum(axis=1)
    predicted = confusion.sum(axis=0)
    total = np.float64(support.sum())
    per_class = {"precision": _divide(tp, predicted), "recall": _divide(tp, support),
                 "f1": _divide(2 * tp, support + predicted)}  # f1 = 2PR / (P + R), and 0 where undefined
    occurring = (support + predicted) > 0
    result: dict[str, Any] = {"accuracy": float(_divide(tp.sum(), total))}
    for name in ("f1", "precision", "recall"):
        values = per_class[name]
        result[f"macro_{name}"] = float(values[occurring].mean()) if occurring.any() else 0.0
        result[f"weighted_{name}"] = float(_divide(np.sum(values * support), total))
    result["balanced_accuracy"] = float(per_class["recall"][support > 0].mean()) if (support > 0).any() else 0.0
    result["per_class"] = {**{k: v.tolist() for k, v in per_class.items()}, "support": support.tolist()}
    if class_names is not None:
        if len(class_names) != confusion.shape[0]:
            raise ValueError(f"{len(class_names)} class names for {confusion.shape[0]} classes")
        result["per_class"]["name"] = list(class_names)
    result["confusion_matrix"] = confusion.tolist()
    return result


def topk_scores(confusion_topk: Any) -> dict[str, float]:
    """Macro precision and recall of the top-k confusion matrix and their harmonic mean (the
    module doc's top-2 scores): top2_macro_precision, top2_macro_recall, top2_f."""
    scores = summarize_confusion(confusion_topk)
    precision, recall = scores["macro_precision"], scores["macro_recall"]
    f = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    prefix = f"top{TOPK_CONFUSION}"
    return {f"{prefix}_macro_precision": precision, f"{prefix}_macro_recall": recall, f"{prefix}_f": f}


def summarize(counts: dict[str, Any], class_names: Sequence[str] | None = None) -> dict[str, Any]:
    """Host-side metrics from accumulated counts (plain Python numbers and lists, JSON-able):
    count, loss, top-k accuracies and everything of `summarize_confusion`."""
    total = int(counts["count"])
    scores = summarize_confusion(counts["confusion"], class_names)
    result: dict[str, Any] = {"count": total,
                              "loss": float(_divide(np.float64(counts["loss_sum"]), np.float64(total)))}
    result.update((k, v) for k, v in scores.items() if not isinstance(v, (dict, list)))
    result.update(topk_scores(counts["confusion_top2"]))
    for key in sorted((k for k in counts if k.startswith("top")), key=lambda k: int(k[3:])):
        result[f"{key}_accuracy"] = float(_divide(np.float64(counts[key]), np.float64(total)))
    result["per_class"] = scores["per_class"]
    result["confusion_matrix"] = scores["confusion_matrix"]
    return result


TOP2_KEYS = ("top2_accuracy", "top2_macro_precision", "top2_macro_recall", "top2_f")  # Table 1(b)'s columns


def summarize_probabilities(probs: Any, labels: Any, class_names: Sequence[str] | None = None) -> dict[str, Any]:
    """`summarize` of host-side (N, classes) probabilities and (N,) labels (the report's
    predictions), through the same counts as the training loop's evaluation."""
    probs = jnp.asarray(probs, jnp.float32)
    counts = update_counts(init_counts(probs.shape[-1]), jnp.log(probs + 1e-12), jnp.asarray(labels, jnp.int32),
                           jnp.ones(probs.shape[0], jnp.float32))
    return summarize(jax.device_get(counts), class_names=class_names)
