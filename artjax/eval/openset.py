"""Open-set ("unknown artist") scores, the threshold at a true-accept rate, AUROC and FAR.

A score is high for images the model believes belong to a known class. `SCORES` is the
registry: name -> function of (logits (N, C), context) -> (N,) scores, where `context` carries
whatever else a score needs; register more with `register`. Built in:

- msp: the maximum softmax probability (Hendrycks & Gimpel 2017);
- energy: logsumexp of the logits, the negative free energy (Liu et al. 2020). It needs the
  model's own logits: a view combining several crops gives log-probabilities, whose logsumexp
  is 0 for every image, so `requires_raw_logits` lets callers refuse it there;
- gallery: the cosine similarity of the image's embedding to its nearest training work
  (`context["gallery_similarity"]`, which callers fill from the run's gallery, eval/gallery.py):
  an unknown artist's painting lies far from every known work.

Scores use the logits before temperature scaling (T changes MSP's ranking across images).
The threshold is the score above which `tar` (0.95) of the known validation images lie: an image
scoring below it is rejected as unknown. AUROC treats known images as positives; it counts ties
as half, as scikit-learn's roc_auc_score does.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from artjax.eval import calibration

ScoreFn = Callable[[np.ndarray, Mapping[str, Any]], np.ndarray]
SCORES: dict[str, ScoreFn] = {}
RAW_LOGITS: set[str] = set()
GALLERY: set[str] = set()  # scores that read context["gallery_similarity"]
TAR = 0.95


def register(name: str, fn: ScoreFn, *, requires_raw_logits: bool = False, requires_gallery: bool = False) -> None:
    """Adds an open-set score (config eval.openset_score names it)."""
    SCORES[name] = fn
    if requires_raw_logits:
        RAW_LOGITS.add(name)
    if requires_gallery:
        GALLERY.add(name)


def requires_raw_logits(name: str) -> bool:
    return name in RAW_LOGITS


def requires_gallery(name: str) -> bool:
    return name in GALLERY


def _msp(logits: np.ndarray, context: Mapping[str, Any]) -> np.ndarray:
    return calibration.softmax(logits).max(axis=1)


def _energy(logits: np.ndarray, context: Mapping[str, Any]) -> np.ndarray:
    z = np.asarray(logits, np.float64)
    top = z.max(axis=1)
    return top + np.log(np.exp(z - top[:, None]).sum(axis=1))


def _gallery(logits: np.ndarray, context: Mapping[str, Any]) -> np.ndarray:
    if "gallery_similarity" not in context:
        raise ValueError("the 'gallery' open-set score needs the run's gallery (eval.gallery)")
    return np.asarray(context["gallery_similarity"])


register("msp", _msp)
register("energy", _energy, requires_raw_logits=True)
register("gallery", _gallery, requires_gallery=True)


def score(name: str, logits: np.ndarray, context: Mapping[str, Any] | None = None) -> np.ndarray:
    if name not in SCORES:
        raise ValueError(f"unknown open-set score {name!r}; expected one of {', '.join(sorted(SCORES))}")
    return np.asarray(SCORES[name](np.asarray(logits), context or {}), np.float64)


def threshold_at_tar(known: np.ndarray, tar: float = TAR) -> float:
    """The largest threshold t with at least `tar` of `known` scoring >= t (accepted)."""
    known = np.sort(np.asarray(known, np.float64))[::-1]
    return float(known[max(int(np.ceil(tar * len(known))) - 1, 0)])


def auroc(known: np.ndarray, unknown: np.ndarray) -> float:
    """P(a known image scores above an unknown one) + half the ties (Mann-Whitney U)."""
    known, unknown = np.asarray(known, np.float64), np.asarray(unknown, np.float64)
    both = np.concatenate([known, unknown])
    order = np.argsort(both, kind="mergesort")
    ranks = np.empty(len(both))
    sorted_scores = both[order]
    # average ranks of tied scores
    _, first, counts = np.unique(sorted_scores, return_index=True, return_counts=True)
    avg = first + (counts + 1) / 2.0
    ranks[order] = np.repeat(avg, counts)
    u = ranks[:len(known)].sum() - len(known) * (len(known) + 1) / 2
    return float(u / (len(known) * len(unknown)))


def false_accept_rate(unknown: np.ndarray, threshold: float) -> float:
    """The share of unknown images scoring >= threshold (accepted as a known artist)."""
    return float(np.mean(np.asarray(unknown) >= threshold))
