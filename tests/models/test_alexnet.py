import jax.numpy as jnp
import pytest
import torch
import torchvision
from flax import nnx

from artjax import models
from parity import (abstract_param_count, assert_eval_parity, assert_train_batchnorm_parity,
                    calibrate_batchnorm, convert_and_load, param_count, torch_alexnet_bn,
                    torch_param_count)


def torch_pooled(tmodel, x):
    return tmodel.features(x).mean(dim=(2, 3))


@pytest.mark.parametrize("size", [64, 224])
def test_converted_torchvision_alexnet_matches_torch(size, tmp_path):
    torch.manual_seed(0)
    tmodel = torchvision.models.alexnet(num_classes=10)
    model = convert_and_load(tmodel, "alexnet", tmp_path)
    assert param_count(model) == torch_param_count(tmodel)
    assert_eval_parity(tmodel, model, torch.randn(2, 3, size, size), torch_pooled)


def test_alexnet_bn_matches_its_torch_layout_at_227px(tmp_path):
    torch.manual_seed(0)
    tmodel = torch_alexnet_bn(num_classes=3)
    x = torch.randn(2, 3, 227, 227)
    calibrate_batchnorm(tmodel, torch.randn(4, 3, 227, 227))
    model = convert_and_load(tmodel, "alexnet_bn", tmp_path)
    assert model.preprocessing.input_size == 227
    assert model.feature_map_shape(227) == (6, 6, 256)
    assert param_count(model) == torch_param_count(tmodel) == 58_296_387  # S4: "58.3 M"
    assert_eval_parity(tmodel, model, x, torch_pooled)
    assert assert_train_batchnorm_parity(tmodel, model, "alexnet_bn", x) == 5 * 2


def test_batch_norm_option_adds_one_batchnorm_per_conv():
    plain = abstract_param_count("alexnet", num_classes=10)
    with_bn = abstract_param_count("alexnet", num_classes=10, batch_norm=True)
    assert with_bn - plain == 2 * (64 + 192 + 384 + 256 + 256)
    assert models.create("alexnet", num_classes=2, batch_norm=True).stage1.bn is not None


def test_too_small_input_fails_clearly_instead_of_returning_nan():
    model = nnx.eval_shape(lambda: models.create("alexnet_bn", num_classes=3))
    with pytest.raises(ValueError, match="too small"):
        nnx.eval_shape(lambda m: m(jnp.ones((1, 64, 64, 3))), model)
