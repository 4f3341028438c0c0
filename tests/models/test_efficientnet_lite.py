"""EfficientNet-Lite 0-4: parity with timm's tf_efficientnet_lite*, layout, options.

Parity runs at 67 px, where every stride-2 "SAME" conv pads asymmetrically (odd inputs).
The real Lite0 ImageNet weights are tested in tests/weights/test_lite0_imagenet.py.
"""

import math

import numpy as np
import pytest
from flax import nnx

timm = pytest.importorskip("timm")  # parity with timm; the 3.12 job runs without torch
torch = pytest.importorskip("torch")

from artjax import models  # noqa: E402
from artjax.models import keymaps  # noqa: E402
from jit_parity import assert_parity, calibrate_with_floor, load_converted  # noqa: E402

LITES = [f"efficientnet_lite{i}" for i in range(5)]


def _meta_timm(arch, **kwargs):
    with torch.device("meta"):
        return timm.create_model(f"tf_{arch}", **kwargs)


@pytest.mark.parametrize("arch", LITES)
def test_converted_timm_model_matches_timm(arch, tmp_path):
    torch.manual_seed(0)
    tmodel = timm.create_model(f"tf_{arch}", num_classes=7)
    # timm draws classifier weights from U(+-1/sqrt(classes)), ~0.4 for 7 classes, which would
    # sum float32 rounding of 1280 features into a 2e-4 logit error; use a 1/sqrt(in) scale.
    torch.nn.init.normal_(tmodel.classifier.weight, std=1 / math.sqrt(1280))
    calibrate_with_floor(tmodel, torch.randn(4, 3, 67, 67))
    model = load_converted(tmodel, arch, tmp_path, num_classes=7, source="timm")
    assert assert_parity(tmodel, model, arch, torch.randn(2, 3, 67, 67), classifier="classifier",
                         source="timm") > 0


def test_stage_layout_widths_and_batchnorm_follow_timm():
    model = nnx.eval_shape(lambda: models.create("efficientnet_lite4"))
    tmodel = _meta_timm("efficientnet_lite4")
    assert model.stage_names == ("stem", *(f"stage{i}" for i in range(1, 8)), "final", "head")
    assert [len(getattr(model, f"stage{i}")) for i in range(1, 8)] == [
        len(b) for b in tmodel.blocks]
    # Stem and final conv stay at 32 / 1280 channels for every width multiplier.
    assert model.stem.conv.out_features == tmodel.conv_stem.out_channels == 32
    assert model.num_features == tmodel.num_features == 1280
    bns = [m for _, m in nnx.iter_modules(model) if hasattr(m, "use_running_average")]
    assert {(b.epsilon, b.momentum) for b in bns} == {(1e-3, 0.9)}  # timm tf_: eps 1e-3
    assert model.head.dropout.rate == tmodel.drop_rate == 0.0  # timm's default


def test_drop_path_rate_option_matches_timm():
    model = nnx.eval_shape(lambda: models.create("efficientnet_lite0", drop_path_rate=0.2))
    tmodel = _meta_timm("efficientnet_lite0", drop_path_rate=0.2)
    rates = [block.drop_path.rate for i in range(1, 8) for block in getattr(model, f"stage{i}")]
    trates = [getattr(b.drop_path, "drop_prob", 0.0) for stage in tmodel.blocks for b in stage]
    np.testing.assert_allclose(rates, trates, rtol=1e-12)
    default = nnx.eval_shape(lambda: models.create("efficientnet_lite0"))
    assert {block.drop_path.rate for block in default.stage6} == {0.0}  # timm's default


def test_preprocessing_is_timms_half_normalisation():
    pre = models.get_spec("efficientnet_lite0").preprocessing
    assert (pre.mean, pre.std, pre.input_size) == ((0.5,) * 3, (0.5,) * 3, 224)
    assert models.get_spec("efficientnet_lite4").preprocessing.input_size == 380


def test_lukemelas_source_is_lite0_only():
    with pytest.raises(ValueError, match="Lite0 only"):
        keymaps.for_model("efficientnet_lite2", "lukemelas")
