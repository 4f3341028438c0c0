"""GoogLeNet: parity with torchvision (transform_input; its aux heads dropped), stage layout."""

import math

import pytest
from flax import nnx

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")

from artjax import models  # noqa: E402
from jit_parity import assert_parity, calibrate_with_floor, load_converted  # noqa: E402


def test_converted_torchvision_model_matches_torch(tmp_path):
    """torchvision's ImageNet configuration (aux heads, transform_input) with random weights; fc
    rescaled so the logits are O(1) instead of torchvision's N(0, 0.01)-initialised ~0.05."""
    torch.manual_seed(0)
    tmodel = torchvision.models.GoogLeNet(num_classes=7, aux_logits=True, transform_input=True,
                                          init_weights=True)
    torch.nn.init.normal_(tmodel.fc.weight, std=1 / math.sqrt(1024))
    calibrate_with_floor(tmodel, torch.randn(4, 3, 64, 64))
    # The converter drops the aux heads: artjax's GoogLeNet has none.
    model = load_converted(tmodel, "googlenet", tmp_path, num_classes=7, transform_input=True)
    assert assert_parity(tmodel, model, "googlenet", torch.randn(2, 3, 64, 64),
                         classifier="fc") > 0


def test_stage_layout():
    model = nnx.eval_shape(lambda: models.create("googlenet"))
    assert model.stage1.names == ("inception3a", "inception3b")
    assert model.stage2.names[-1] == "inception4e" and model.stage3.names[-1] == "inception5b"
    assert model.num_features == 1024 and model.head.dropout.rate == 0.2
