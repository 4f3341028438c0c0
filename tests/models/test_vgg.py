import jax.numpy as jnp
import pytest
from flax import nnx

from artjax import models

torch = pytest.importorskip("torch")  # parity with PyTorch; the 3.12 job runs without it
torchvision = pytest.importorskip("torchvision")
from parity import (assert_classifier_keeps_its_4096_layers, assert_eval_parity,  # noqa: E402
                    assert_train_batchnorm_parity, calibrate_batchnorm, convert, convert_and_load,
                    param_count, torch_param_count)


def torch_pooled(tmodel, x):
    return tmodel.features(x).mean(dim=(2, 3))


# 32 px leaves a 1x1 map that torch's adaptive pool repeats into 7x7; 64 px a 2x2 map whose
# 7 bins overlap unevenly: both exercise torch's bin rule.
@pytest.mark.parametrize("arch,size", [("vgg11", 64), ("vgg16_bn", 32)])
def test_converted_torchvision_vgg_matches_torch(arch, size, tmp_path):
    torch.manual_seed(0)
    tmodel = getattr(torchvision.models, arch)(num_classes=10)
    calibrate_batchnorm(tmodel, torch.randn(4, 3, size, size))
    _assert_parity(tmodel, convert_and_load(tmodel, arch, tmp_path), arch, size)


def test_converted_vgg16_matches_torch_and_a_new_class_count_keeps_its_4096_layers(tmp_path, caplog):
    # One test, so that the 138M-parameter VGG16 is converted once whichever xdist worker runs it.
    torch.manual_seed(0)
    tmodel = torchvision.models.vgg16()  # its 1000 ImageNet classes
    weights = convert(tmodel, "vgg16", tmp_path)
    _assert_parity(tmodel, models.create("vgg16", num_classes=1000, weights=str(weights)), "vgg16", 32)
    # S2: "torchvision ImageNet VGG16, classifier changed to 10 classes" (the last Linear only)
    assert_classifier_keeps_its_4096_layers(tmodel, "vgg16", weights, caplog)


def _assert_parity(tmodel, model, arch, size):
    x = torch.randn(2, 3, size, size)
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

