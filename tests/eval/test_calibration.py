"""Temperature scaling, ECE and the open-set measures against direct computations."""

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from artjax.eval import calibration, openset


def _overconfident(n=400, classes=5, seed=0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, n)
    logits = rng.normal(size=(n, classes))
    logits[np.arange(n), labels] += 1.0
    return 4.0 * logits, labels  # sharpened: an overconfident model


def test_ece_equals_a_direct_loop():
    logits, labels = _overconfident()
    probs = calibration.softmax(logits)
    total, n = 0.0, len(labels)
    for m in range(15):
        lo, hi = m / 15, (m + 1) / 15
        members = [i for i in range(n) if lo < probs[i].max() <= hi]
        if members:
            accuracy = np.mean([probs[i].argmax() == labels[i] for i in members])
            confidence = np.mean([probs[i].max() for i in members])
            total += len(members) / n * abs(accuracy - confidence)
    assert calibration.ece(probs, labels) == pytest.approx(total, abs=1e-12)


def test_the_fitted_temperature_minimises_nll_and_keeps_the_top1_class():
    logits, labels = _overconfident()
    fit = calibration.fit_temperature(logits, labels)
    assert fit.nll_after < fit.nll_before and fit.temperature > 1 and not fit.at_bound
    for t in (fit.temperature * (1 - 1e-3), fit.temperature * (1 + 1e-3)):
        assert calibration.nll(logits, labels, t) >= fit.nll_after
    assert (calibration.softmax(logits, fit.temperature).argmax(1) == logits.argmax(1)).all()
    assert fit.nll_after == pytest.approx(calibration.nll(logits, labels, fit.temperature))


def test_auroc_equals_sklearn_ties_included_and_the_threshold_accepts_95_percent():
    rng = np.random.default_rng(1)
    known, unknown = rng.normal(1, 1, 300).round(1), rng.normal(0, 1, 120).round(1)  # rounding makes ties
    truth = np.r_[np.ones(300), np.zeros(120)]
    assert openset.auroc(known, unknown) == pytest.approx(roc_auc_score(truth, np.r_[known, unknown]), abs=1e-12)
    threshold = openset.threshold_at_tar(known)
    assert np.mean(known >= threshold) >= 0.95 and np.mean(known > threshold) < 0.95
    assert openset.false_accept_rate(unknown, threshold) == np.mean(unknown >= threshold)


def test_registered_scores():
    logits = np.array([[2.0, 0.0, -1.0], [0.1, 0.0, 0.2]])
    np.testing.assert_allclose(openset.score("msp", logits), calibration.softmax(logits).max(1))
    np.testing.assert_allclose(openset.score("energy", logits), np.log(np.exp(logits).sum(1)))
    with pytest.raises(ValueError, match="unknown open-set score"):
        openset.score("nearest_centroid", logits)
