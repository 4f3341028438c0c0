"""Temperature scaling and the expected calibration error, in float64 NumPy on the host.

The logits are what `scoring.score_view` counts for an image (`Scores.logits`): the model's
output for a one-crop view, else the log of the view's combined probabilities, whose softmax
is those probabilities again; softmax(logits / T) then sharpens (T < 1) or flattens (T > 1)
them. Dividing by T never changes an image's top-1 class.

The NLL of softmax(z / T) is convex in 1 / T, so it has one minimum on a bracket of T; a golden
section search over log T finds it to `tol` in about 60 evaluations of the whole set.

ECE (Guo et al., ICML 2017): the images are binned by their top-1 probability into `bins`
equal-width intervals (0, 1/M], (1/M, 2/M], ...; ECE = sum over bins of |B| / N * |accuracy(B)
- confidence(B)|.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

BINS = 15
T_RANGE = (0.05, 20.0)  # the bracket searched; a minimum on its edge is reported as such


def log_softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    z = np.asarray(logits, np.float64) / temperature
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    return np.exp(log_softmax(logits, temperature))


def nll(logits: np.ndarray, labels: np.ndarray, temperature: float = 1.0) -> float:
    """Mean negative log-likelihood of the true classes under softmax(logits / T)."""
    labels = np.asarray(labels, np.int64)
    return float(-log_softmax(logits, temperature)[np.arange(len(labels)), labels].mean())


def reliability(probs: np.ndarray, labels: np.ndarray, bins: int = BINS) -> dict[str, list[float]]:
    """Per confidence bin: its upper edge, image count, mean confidence and accuracy (0 when empty)."""
    probs, labels = np.asarray(probs, np.float64), np.asarray(labels, np.int64)
    confidence, correct = probs.max(axis=1), (probs.argmax(axis=1) == labels).astype(np.float64)
    # bin m holds (m / M, (m + 1) / M]; a confidence of exactly 0 cannot occur (softmax > 0)
    index = np.clip(np.ceil(confidence * bins).astype(np.int64) - 1, 0, bins - 1)
    count = np.bincount(index, minlength=bins)
    conf_sum = np.bincount(index, weights=confidence, minlength=bins)
    acc_sum = np.bincount(index, weights=correct, minlength=bins)
    safe = np.maximum(count, 1)
    return {"upper": [(m + 1) / bins for m in range(bins)], "count": count.tolist(),
            "confidence": (conf_sum / safe).tolist(), "accuracy": (acc_sum / safe).tolist()}


def ece(probs: np.ndarray, labels: np.ndarray, bins: int = BINS) -> float:
    """Expected calibration error of the top-1 probabilities (module doc)."""
    r = reliability(probs, labels, bins)
    n = sum(r["count"])
    return float(sum(c / n * abs(a - f) for c, a, f in zip(r["count"], r["accuracy"], r["confidence"])))


@dataclasses.dataclass
class Fit:
    temperature: float
    nll_before: float
    nll_after: float
    at_bound: bool  # the minimum lies on an edge of T_RANGE


def fit_temperature(logits: np.ndarray, labels: np.ndarray, *, tol: float = 1e-7) -> Fit:
    """The T in T_RANGE minimising `nll(logits, labels, T)` (golden section over log T)."""
    if len(labels) == 0:
        raise ValueError("temperature scaling needs at least one labelled image")
    logits = np.asarray(logits, np.float64)

    def f(log_t: float) -> float:
        return nll(logits, labels, math.exp(log_t))

    a, b = math.log(T_RANGE[0]), math.log(T_RANGE[1])
    ratio = (math.sqrt(5) - 1) / 2
    c, d = b - ratio * (b - a), a + ratio * (b - a)
    fc, fd = f(c), f(d)
    while b - a > tol:
        if fc <= fd:
            b, d, fd = d, c, fc
            c = b - ratio * (b - a)
            fc = f(c)
        else:
            a, c, fc = c, d, fd
            d = a + ratio * (b - a)
            fd = f(d)
    log_t = (a + b) / 2
    edge = 1e-3
    at_bound = log_t - math.log(T_RANGE[0]) < edge or math.log(T_RANGE[1]) - log_t < edge
    return Fit(math.exp(log_t), f(0.0), f(log_t), at_bound)
