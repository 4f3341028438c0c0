"""One evaluation path: training's EvalPlan step and the restored Classifier score every view
through the same function, and agree with each other and with hand-computed combinations."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from artjax.data.augment import make_transform
from artjax.eval import metrics, views
from artjax.eval.inference import Classifier
from artjax.eval.scoring import EvalPlan
from artjax.models.base import Preprocessing
from artjax.models.pyramid import Pyramid

SIZE, CLASSES = 12, 3
PREPROCESSING = Preprocessing(mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))
BASE = make_transform("none", image_size=SIZE, train=False)


class Tiny(nnx.Module):
    """Per-pixel features, averaged: crops of one image score differently."""

    stage_names = ("a", "b")
    preprocessing = PREPROCESSING

    def __init__(self, outputs=CLASSES, seed=0):
        rngs = nnx.Rngs(seed)
        self.a = nnx.Linear(3, 8, rngs=rngs)
        self.b = nnx.Linear(8, outputs, rngs=rngs)

    def __call__(self, x):
        return self.b(jnp.tanh(self.a(x)).mean(axis=(1, 2)))


def _images(n=5):
    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, (int(rng.integers(20, 40)), int(rng.integers(20, 40)), 3), dtype=np.uint8)
            for _ in range(n)], rng.integers(0, CLASSES, n).astype(np.int32)


def _step_result(plan, model, images, labels, batch=2):
    """The EvalPlan's jitted step over padded batches, images cut with seed 0 as the Classifier does."""
    graphdef, state = nnx.split((model, nnx.Optimizer(model, optax.sgd(0.1), wrt=nnx.Param)))
    step = plan.make_step(graphdef, preprocessing=PREPROCESSING, dtype=jnp.float32)
    counts = plan.init_counts()
    for start in range(0, len(images), batch):
        x = np.stack([plan.transform(im, np.random.default_rng(0)) for im in images[start:start + batch]])
        y = labels[start:start + batch]
        pad = batch - len(y)
        batch_in = {"image": np.concatenate([x, np.zeros((pad, *x.shape[1:]), x.dtype)]),
                    "label": np.concatenate([y, np.zeros(pad, np.int32)]),
                    "mask": (np.arange(batch) < len(y)).astype(np.float32)}
        counts = step(state, jax.tree.map(jnp.asarray, batch_in), counts)
    return plan.summarize(jax.device_get(counts), [f"c{i}" for i in range(plan.num_classes)])


def _predictions(model, images, view, sigmoid=False, batch_size=8):
    classifier = Classifier(model, prepare=PREPROCESSING.normalize, sigmoid=sigmoid, batch_size=batch_size)
    return [p for _, p in classifier.predict(enumerate(images), view=view, transform=BASE, image_size=SIZE)]


def _plan(view, *, model_combines=False, levels=(1, 2, 5), sigmoid=False):
    return EvalPlan(view=view, levels=levels, model_combines=model_combines, base_transform=BASE, image_size=SIZE,
                    sigmoid=sigmoid, num_classes=2 if sigmoid else CLASSES)


@pytest.mark.parametrize("view", views.NAMES)
def test_training_evaluation_and_the_classifier_agree_on_every_view(view):
    model, (images, labels) = Tiny(), _images()
    model.eval()
    plan = _plan(view)
    result = _step_result(plan, model, images, labels)
    predictions = _predictions(model, images, view)
    probs = np.stack([p.probs for p in predictions])
    per_painting = metrics.summarize_confusion(
        np.bincount(labels * CLASSES + probs.argmax(1), minlength=CLASSES ** 2).reshape(CLASSES, CLASSES))
    crops = plan.num_crops
    if plan.per_crop:  # each crop a sample; the paintings are the voted scores
        assert result["count"] == len(images) * crops
        assert result["voted_accuracy"] == per_painting["accuracy"]
        assert result["voted_macro_f1"] == per_painting["macro_f1"]
        crop_probs = np.concatenate([p.crop_probs for p in predictions])
        assert result["accuracy"] == pytest.approx(np.mean(crop_probs.argmax(1) == np.repeat(labels, crops)))
        assert result["loss"] == pytest.approx(-np.mean(np.log(crop_probs[np.arange(len(crop_probs)),
                                                                           np.repeat(labels, crops)])), abs=1e-5)
    else:
        assert result["count"] == len(images) and "voted_accuracy" not in result
        assert result["confusion_matrix"] == per_painting["confusion_matrix"]
        assert result["loss"] == pytest.approx(-np.mean(np.log(probs[np.arange(len(labels)), labels])), abs=1e-5)
    for p in predictions:
        assert (p.crop_probs is None) == (crops == 1)
        if crops > 1 and view != "pyramid":
            np.testing.assert_allclose(p.probs, p.crop_probs.mean(axis=0), atol=1e-6)


def test_the_pyramid_view_weighs_a_plain_backbones_levels_and_a_pyramid_model_matches_it():
    backbone, (images, labels) = Tiny(), _images(3)
    plain = _predictions(backbone, images, "pyramid", batch_size=64)
    for p in plain:
        levels = [p.crop_probs[:1].mean(0), p.crop_probs[1:5].mean(0), p.crop_probs[5:].mean(0)]
        np.testing.assert_allclose(p.probs, (25 * levels[0] + 4 * levels[1] + levels[2]) / 30, atol=1e-6)
    model = Pyramid(backbone)
    wrapped = _predictions(model, images, "pyramid", batch_size=60)
    assert all(p.crop_probs is None for p in wrapped)
    np.testing.assert_allclose([p.probs for p in wrapped], [p.probs for p in plain], atol=1e-5)
    combined = _step_result(_plan("pyramid", model_combines=True), model, images, labels)
    assert combined["count"] == 3 and "voted_accuracy" not in combined
    assert combined["accuracy"] == _step_result(_plan("pyramid"), backbone, images, labels)["accuracy"]


def test_a_sigmoid_model_scores_as_two_classes():
    model, (images, labels) = Tiny(outputs=1), _images()
    labels = labels % 2
    result = _step_result(_plan("full", sigmoid=True), model, images, labels)
    probs = np.stack([p.probs for p in _predictions(model, images, "full", sigmoid=True)])
    x = np.stack([PREPROCESSING.normalize(BASE(im, 0)[None], jnp.float32)[0] for im in images])
    positive = 1 / (1 + np.exp(-np.asarray(model(jnp.asarray(x)), np.float64)[:, 0]))
    np.testing.assert_allclose(probs, np.stack([1 - positive, positive], axis=1), atol=1e-6)
    assert result["accuracy"] == pytest.approx(np.mean((positive > 0.5) == labels))
    with pytest.raises(ValueError, match="sigmoid"):
        _predictions(model, images, "full", sigmoid=False)


def test_bad_plans_are_named():
    with pytest.raises(ValueError, match="pyramid model"):
        _plan("quadrants", model_combines=True)
    with pytest.raises(ValueError, match="expected one of full, quadrants"):
        _plan("tiles")
    with pytest.raises(ValueError, match="two classes"):
        EvalPlan(view="full", levels=(1,), model_combines=False, base_transform=BASE, image_size=SIZE, sigmoid=True,
                 num_classes=3)
