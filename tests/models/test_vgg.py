import jax.numpy as jnp
import pytest
import torch
import torchvision
from flax import nnx

from artjax import models
from parity import (assert_classifier_keeps_its_4096_layers, assert_eval_parity,
                    assert_train_batchnorm_parity, calibrate_batchnorm, convert, convert_and_load,
                    param_count, torch_param_count)


def torch_pooled(tmodel, x):
    return tmodel.features(x).mean(dim=(2, 3))


@pytest.fixture(scope="module")
def vgg16_weights(tmp_path_factory):
    """A random torchvision VGG16 with its 1000 ImageNet classes and its artjax conversion, made
    once (138M parameters): the parity test and the new-class-count test share it."""
    torch.manual_seed(0)
    tmodel = torchvision.models.vgg16()
    return tmodel, convert(tmodel, "vgg16", tmp_path_factory.mktemp("vgg16"))


# 32 px leaves a 1x1 map that torch's adaptive pool repeats into 7x7; 64 px a 2x2 map whose
# 7 bins overlap unevenly: both exercise torch's bin rule.
@pytest.mark.parametrize("arch,size", [("vgg11", 64), ("vgg16", 32), ("vgg16_bn", 32)])
def test_converted_torchvision_vgg_matches_torch(arch, size, tmp_path, request):
    torch.manual_seed(0)
    x = torch.randn(2, 3, size, size)
    if arch == "vgg16":
        tmodel, weights = request.getfixturevalue("vgg16_weights")
        model = models.create(arch, num_classes=1000, weights=str(weights))
    else:
        tmodel = getattr(torchvision.models, arch)(num_classes=10)
        calibrate_batchnorm(tmodel, torch.randn(4, 3, size, size))
        model = convert_and_load(tmodel, arch, tmp_path)
    assert model.stage_names == ("stage1", "stage2", "stage3", "stage4", "stage5", "head")
    assert param_count(model) == torch_param_count(tmodel)
    assert_eval_parity(tmodel, model, x, torch_pooled)
    if arch.endswith("_bn"):
        assert assert_train_batchnorm_parity(tmodel, model, arch, x) == 13 * 2


def test_non_default_heads_use_globally_pooled_features():
    def build_and_run():
        model = models.create("vgg11", num_classes=5, head={"kind": "linear"})
        return model, model(jnp.ones((1, 64, 64, 3)))

    model, logits = nnx.eval_shape(build_and_run)  # shapes only: no compute
    assert model.num_features == 512
    assert model.head.fc.kernel.shape == (512, 5)
    assert logits.shape == (1, 5)


def test_a_new_class_count_keeps_the_pretrained_4096_layers(vgg16_weights, caplog):
    # S2: "torchvision ImageNet VGG16, classifier changed to 10 classes" (the last Linear only)
    tmodel, weights = vgg16_weights
    assert_classifier_keeps_its_4096_layers(tmodel, "vgg16", weights, caplog)
