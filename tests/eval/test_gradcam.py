"""Grad-CAM: shape and range on a real backbone, and localisation on hand-built models whose
evidence for each class sits in a known region."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from artjax import models
from artjax.eval.gradcam import gradcam
from artjax.models.base import Backbone

SIZE = 16  # image side; the hand-built models' feature map is SIZE / 4


class ChannelMeans(nnx.Module):
    """Class c's logit = mean of channel c, read from the pooled features or from the map itself
    (as VGG's classifier reads the map); `sigmoid`: one logit, channel 0 minus channel 1."""

    def __init__(self, reads_map: bool, sigmoid: bool = False):
        self.reads_map = reads_map
        self.sigmoid = sigmoid

    def __call__(self, pooled, feature_map):
        logits = feature_map.mean(axis=(1, 2))[:, :2] if self.reads_map else pooled[:, :2]
        return logits[:, :1] - logits[:, 1:] if self.sigmoid else logits


class TwoChannelNet(Backbone):
    """Feature map = 4x4 average pooling of the input; pooled = its spatial mean (or max)."""

    def __init__(self, head: nnx.Module, pool: str = "mean"):
        self.stage_names = ("stage1", "head")
        self.num_features = 3
        self.head = head
        self.pool = pool

    def forward_features(self, x):
        fmap = nnx.avg_pool(x, (4, 4), strides=(4, 4))
        pooled = fmap.mean(axis=(1, 2)) if self.pool == "mean" else fmap.max(axis=(1, 2))
        return pooled, {"stage1": fmap}


def _two_patches():
    """Channel 0 lit in the top-left corner, channel 1 in the bottom-right one."""
    image = np.zeros((1, SIZE, SIZE, 3), np.float32)
    image[0, :4, :4, 0] = 1.0
    image[0, -4:, -4:, 1] = 1.0
    return jnp.asarray(image)


def _peak(heatmap):
    return np.unravel_index(np.argmax(heatmap), heatmap.shape)


@pytest.mark.parametrize("reads_map", [False, True], ids=["head-on-pooled", "head-on-map"])
def test_heatmap_peaks_where_the_class_evidence_is(reads_map):
    model = TwoChannelNet(ChannelMeans(reads_map))
    image = _two_patches()
    heat0, chosen0 = gradcam(model, image, np.array([0]))
    heat1, chosen1 = gradcam(model, image, np.array([1]))
    assert heat0.shape == heat1.shape == (1, SIZE, SIZE)
    assert chosen0.tolist() == [0] and chosen1.tolist() == [1]
    for heat in (heat0, heat1):
        assert heat.min() >= 0.0 and heat.max() == pytest.approx(1.0)
    y, x = _peak(heat0[0])
    assert y < 4 and x < 4  # class 0's evidence: the top-left patch ...
    assert heat0[0, -3:, -3:].max() == 0.0  # ... and nothing of class 1's patch
    y, x = _peak(heat1[0])
    assert y >= SIZE - 4 and x >= SIZE - 4
    assert heat1[0, :3, :3].max() == 0.0


def test_without_classes_it_explains_the_prediction():
    model = TwoChannelNet(ChannelMeans(reads_map=False))
    image = _two_patches().at[0, :4, :4, 0].set(2.0)  # class 0 now wins
    heat, chosen = gradcam(model, image)
    assert chosen.tolist() == [0]
    assert _peak(heat[0])[0] < 4


def test_sigmoid_model_explains_class_1_by_its_logit_and_class_0_by_its_negation():
    model = TwoChannelNet(ChannelMeans(reads_map=False, sigmoid=True))  # z > 0 <=> channel 0 dominates
    image = _two_patches()
    heat, _ = gradcam(model, jnp.concatenate([image, image]), np.array([1, 0]))
    assert _peak(heat[0])[0] < 4  # class 1 (z): channel 0's top-left patch
    assert _peak(heat[1])[0] >= SIZE - 4  # class 0 (-z): channel 1's bottom-right patch


def test_refuses_a_model_whose_pooled_features_are_not_the_map_mean():
    model = TwoChannelNet(ChannelMeans(reads_map=False), pool="max")
    with pytest.raises(ValueError, match="not the spatial mean"):
        gradcam(model, _two_patches())


def test_real_backbone_heatmaps_have_the_image_size_and_unit_range():
    model = models.create("resnet_mini", num_classes=4, seed=0)
    images = jax.random.normal(jax.random.key(0), (2, 64, 64, 3))
    heat, chosen = gradcam(model, images)
    logits = model(images)
    assert heat.shape == (2, 64, 64)
    assert heat.min() >= 0.0 and heat.max() <= 1.0
    assert np.array_equal(chosen, np.argmax(logits, axis=-1))
    assert np.all(heat.max(axis=(1, 2)) == pytest.approx(1.0))  # a random net has some positive evidence
