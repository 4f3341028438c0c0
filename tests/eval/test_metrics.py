"""Device-side metric counts against scikit-learn, with a padded last batch."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from sklearn import metrics as skm

from artjax.eval import metrics

C = 6


def _data(n=53, seed=0, absent_prediction=5, absent_label=None):
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(n, C)).astype(np.float32)
    logits[:, absent_prediction] -= 100.0  # never the argmax
    labels = rng.integers(0, C, size=n).astype(np.int32)
    if absent_label is not None:
        labels[labels == absent_label] = (absent_label + 1) % C
    return logits, labels


def _accumulate(logits, labels, batch=16, k_values=(1, 3, 5)):
    """Runs the jitted update over fixed-size batches, padding the last one with garbage rows."""
    update = jax.jit(metrics.update_counts)
    counts = metrics.init_counts(C, k_values)
    for start in range(0, len(labels), batch):
        x, y = logits[start:start + batch], labels[start:start + batch]
        pad = batch - len(y)
        mask = np.r_[np.ones(len(y)), np.zeros(pad)].astype(np.float32)
        x = np.concatenate([x, np.full((pad, C), 50.0, np.float32)])  # padding would score as class 0
        y = np.concatenate([y, np.full(pad, 0, np.int32)])
        counts = update(counts, jnp.asarray(x), jnp.asarray(y), jnp.asarray(mask))
    return metrics.summarize(jax.device_get(counts), class_names=[f"c{i}" for i in range(C)])


@pytest.mark.parametrize("absent_label", [None, 4])
def test_matches_sklearn_with_padded_last_batch(absent_label):
    logits, labels = _data(absent_label=absent_label)
    result = _accumulate(logits, labels)
    preds = logits.argmax(axis=1)
    assert result["count"] == len(labels)
    assert result["accuracy"] == pytest.approx(skm.accuracy_score(labels, preds))
    assert result["macro_f1"] == pytest.approx(skm.f1_score(labels, preds, average="macro", zero_division=0))
    assert result["weighted_f1"] == pytest.approx(skm.f1_score(labels, preds, average="weighted", zero_division=0))
    if absent_label is None:
        assert result["balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(labels, preds))
    else:  # sklearn warns about the predicted-but-absent class and averages over present ones
        with pytest.warns(UserWarning):
            assert result["balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(labels, preds))
    for average in ("macro", "weighted"):  # the report's per-class table shows these
        p, r, f, _ = skm.precision_recall_fscore_support(labels, preds, average=average, zero_division=0)
        assert (result[f"{average}_precision"], result[f"{average}_recall"], result[f"{average}_f1"]) == \
            pytest.approx((p, r, f))
    p, r, f, s = skm.precision_recall_fscore_support(labels, preds, labels=range(C), zero_division=0)
    per_class = result["per_class"]
    np.testing.assert_allclose(per_class["precision"], p)
    np.testing.assert_allclose(per_class["recall"], r)
    np.testing.assert_allclose(per_class["f1"], f)
    assert per_class["support"] == s.tolist() and per_class["name"][0] == "c0"
    assert result["confusion_matrix"] == skm.confusion_matrix(labels, preds, labels=range(C)).tolist()
    for k in (1, 3, 5):
        expected = skm.top_k_accuracy_score(labels, logits, k=k, labels=range(C))
        assert result[f"top{k}_accuracy"] == pytest.approx(expected)
    # sklearn's log_loss clips tiny probabilities (class 5's are ~e-100), so compute it directly.
    z = logits.astype(np.float64)
    nll = np.log(np.exp(z - z.max(1, keepdims=True)).sum(1)) + z.max(1) - z[np.arange(len(labels)), labels]
    assert result["loss"] == pytest.approx(nll.mean(), rel=1e-5)
    assert per_class["precision"][5] == 0.0 and per_class["support"][5] > 0  # never predicted


def test_class_absent_from_labels_and_predictions_is_left_out_of_macro_f1():
    logits, labels = _data(absent_prediction=2, absent_label=2)
    result = _accumulate(logits, labels)
    preds = logits.argmax(axis=1)
    assert result["per_class"]["support"][2] == 0
    assert result["macro_f1"] == pytest.approx(skm.f1_score(labels, preds, average="macro"))
    assert result["macro_f1"] > np.mean(result["per_class"]["f1"])  # the empty class would drag it down


def test_padding_rows_change_nothing():
    logits, labels = _data(n=32)
    a = _accumulate(logits, labels, batch=32)
    b = _accumulate(logits, labels, batch=12)  # 32 = 12 + 12 + 8 real rows + 4 padding rows
    assert a == b


def test_single_logit_sigmoid_outputs():
    rng = np.random.default_rng(1)
    z = rng.normal(size=(20, 1)).astype(np.float32)
    labels = rng.integers(0, 2, size=20).astype(np.int32)
    counts = metrics.update_counts(metrics.init_counts(2, k_values=(1,)), jnp.asarray(z), jnp.asarray(labels),
                                   jnp.ones(20))
    result = metrics.summarize(jax.device_get(counts))
    preds = (z[:, 0] > 0).astype(int)
    assert result["accuracy"] == pytest.approx(skm.accuracy_score(labels, preds))
    prob = 1 / (1 + np.exp(-z[:, 0].astype(np.float64)))
    assert result["loss"] == pytest.approx(skm.log_loss(labels, prob), rel=1e-5)


def test_empty_counts_summarise_to_zeros_and_bad_shapes_fail():
    result = metrics.summarize(jax.device_get(metrics.init_counts(3)))
    assert result["accuracy"] == 0.0 and result["macro_f1"] == 0.0 and result["count"] == 0
    with pytest.raises(ValueError, match="classes"):
        metrics.update_counts(metrics.init_counts(3), jnp.zeros((2, 4)), jnp.zeros(2, jnp.int32), jnp.ones(2))
    with pytest.raises(ValueError, match="class names"):
        metrics.summarize(jax.device_get(metrics.init_counts(3)), class_names=["a"])


def test_one_better_rule_and_one_way_to_probabilities():
    assert metrics.lower_is_better("loss") and not metrics.lower_is_better("macro_f1")
    assert metrics.is_better("loss", 0.4, 0.5) and not metrics.is_better("loss", 0.5, 0.5)
    assert metrics.is_better("accuracy", 0.6, 0.5) and not metrics.is_better("accuracy", 0.5, 0.5)
    z = jnp.array([[-1.0], [0.0], [2.0]])
    positive = 1 / (1 + np.exp(-np.asarray(z[:, 0])))
    np.testing.assert_allclose(metrics.probabilities(z), np.stack([1 - positive, positive], 1), atol=1e-6)
    logits = jnp.array([[1.0, 2.0, 0.5]])
    np.testing.assert_allclose(metrics.probabilities(logits), jax.nn.softmax(logits), atol=1e-7)


def _top2_reference(logits, labels):
    """Table 1(b)'s reading written out per class: a hit when the true class is among the two
    highest scores; precision of c = hits of c / images credited to c (hits of c and misses
    whose top-1 is c), recall of c = hits of c / images of c; F of the macro averages."""
    top2 = np.argsort(-logits, axis=1)[:, :2]
    hit = (top2 == labels[:, None]).any(axis=1)
    credited = np.where(hit, labels, top2[:, 0])
    precisions, recalls = [], []
    for c in range(logits.shape[1]):
        if not ((labels == c).any() or (credited == c).any()):
            continue  # a class neither present nor predicted is not averaged
        hits = np.sum(hit & (labels == c))
        precisions.append(hits / max(np.sum(credited == c), 1))
        recalls.append(hits / max(np.sum(labels == c), 1))
    p, r = np.mean(precisions), np.mean(recalls)
    return hit.mean(), p, r, 2 * p * r / (p + r), credited


@pytest.mark.parametrize("absent_label", [None, 4])
def test_top2_precision_recall_f_match_a_direct_computation(absent_label):
    logits, labels = _data(n=61, seed=3, absent_label=absent_label)
    result = _accumulate(logits, labels, k_values=(1, 2))
    accuracy, p, r, f, credited = _top2_reference(logits, labels)
    assert result["top2_accuracy"] == pytest.approx(accuracy)
    assert result["top2_accuracy"] == pytest.approx(skm.top_k_accuracy_score(labels, logits, k=2, labels=range(C)))
    assert (result["top2_macro_precision"], result["top2_macro_recall"], result["top2_f"]) == pytest.approx((p, r, f))
    # The same macro averages are scikit-learn's on the credited predictions.
    sk_p, sk_r, _, _ = skm.precision_recall_fscore_support(labels, credited, average="macro", zero_division=0)
    assert (result["top2_macro_precision"], result["top2_macro_recall"]) == pytest.approx((sk_p, sk_r))
    assert result["top2_macro_recall"] > result["macro_recall"]  # the second guess only adds hits
