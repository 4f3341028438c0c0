import logging

import numpy as np
import pytest

from artjax import models
from artjax.weights import store

torch = pytest.importorskip("torch")  # parity with PyTorch; the 3.12 job runs without it
torchvision = pytest.importorskip("torchvision")
from parity import (assert_classifier_keeps_its_4096_layers, assert_eval_parity, convert,  # noqa: E402
                    param_count, torch_param_count)


def torch_pooled(tmodel, x):
    return tmodel.features(x).mean(dim=(2, 3))


@pytest.fixture(scope="module")
def alexnet_weights(tmp_path_factory):
    """A random torchvision AlexNet (1000 classes) and its artjax conversion, made once."""
    torch.manual_seed(0)
    tmodel = torchvision.models.alexnet()
    return tmodel, convert(tmodel, "alexnet", tmp_path_factory.mktemp("alexnet"))


@pytest.mark.parametrize("size", [64, 224])
def test_converted_torchvision_alexnet_matches_torch(size, alexnet_weights):
    tmodel, weights = alexnet_weights
    model = models.create("alexnet", num_classes=1000, weights=str(weights))
    assert param_count(model) == torch_param_count(tmodel)
    assert_eval_parity(tmodel, model, torch.randn(2, 3, size, size), torch_pooled)


def test_a_new_class_count_keeps_the_pretrained_4096_layers(alexnet_weights, caplog):
    tmodel, weights = alexnet_weights
    assert_classifier_keeps_its_4096_layers(tmodel, "alexnet", weights, caplog)


def test_reinit_head_starts_the_whole_classifier_fresh(alexnet_weights, caplog):
    stored = store.read_arrays(str(alexnet_weights[1]))
    with caplog.at_level(logging.INFO, logger="artjax.weights.store"):
        model = models.create("alexnet", num_classes=10, weights=str(alexnet_weights[1]),
                              reinit_head=True)
    loaded = store.model_arrays(model)
    for key in loaded:
        if key.startswith("head/"):
            assert np.shape(loaded[key]) != np.shape(stored[key]) or not np.array_equal(
                loaded[key], stored[key]), key
        else:
            np.testing.assert_array_equal(loaded[key], stored[key], err_msg=key)
    assert "reinit_head" in caplog.text and "new head/fc1, head/fc2, head/fc3" in caplog.text
