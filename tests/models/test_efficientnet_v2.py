"""EfficientNetV2 S/M/L: parity with torchvision (checks in efficientnet_checks.py).

V2-M and V2-L are checked by structure only (layout here; parameter count and key-map coverage
in test_interface.py); their forward graph is V2-S's with more blocks and one more group.
"""

import pytest

pytest.importorskip("torch")
pytest.importorskip("torchvision")

from artjax import models  # noqa: E402
from efficientnet_checks import (check_batchnorm_settings_and_drop_rates,  # noqa: E402
                                 check_converted_model_matches_torch, check_stage_layout)


def test_converted_torchvision_model_matches_torch(tmp_path):
    check_converted_model_matches_torch("efficientnet_v2_s", tmp_path)


@pytest.mark.parametrize("arch, groups", [("efficientnet_v2_s", 6), ("efficientnet_v2_m", 7)])
def test_stage_layout_follows_torchvision_features(arch, groups):
    check_stage_layout(arch, groups)


def test_batchnorm_settings_and_drop_rates_equal_torchvision():
    check_batchnorm_settings_and_drop_rates("efficientnet_v2_s")  # eps 1e-3, momentum 0.1


def test_v2_l_expects_inputs_normalised_to_minus_one_one():
    v2l = models.get_spec("efficientnet_v2_l").preprocessing
    assert (v2l.input_size, v2l.mean, v2l.std) == (480, (0.5,) * 3, (0.5,) * 3)
