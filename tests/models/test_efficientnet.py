"""EfficientNet B0-B7: parity with torchvision, stage layout, stochastic depth.

Forward parity (compiling an EfficientNet takes ~10-20 s on this machine) runs on B0 and B3 (S1's
model); B1-B7 are B0's graph with other widths, depths and (B5-B7) BatchNorm eps/momentum, whose
structure (parameter count, key-map coverage of torchvision's state dict) test_interface.py
checks for every model; here BatchNorm settings and drop rates. V2 is in
test_efficientnet_v2.py.
"""

import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

pytest.importorskip("torch")
pytest.importorskip("torchvision")

from artjax import models  # noqa: E402
from artjax.models.efficientnet import DropPath  # noqa: E402
from efficientnet_checks import (check_batchnorm_settings_and_drop_rates,  # noqa: E402
                                 check_converted_model_matches_torch, check_stage_layout)


@pytest.mark.parametrize("arch", ["efficientnet_b0", "efficientnet_b3"])
def test_converted_torchvision_model_matches_torch(arch, tmp_path):
    check_converted_model_matches_torch(arch, tmp_path)


def test_stage_layout_follows_torchvision_features():
    check_stage_layout("efficientnet_b0", 7)


@pytest.mark.parametrize("arch", ["efficientnet_b0", "efficientnet_b4", "efficientnet_b5"])
def test_batchnorm_settings_and_drop_rates_equal_torchvision(arch):
    check_batchnorm_settings_and_drop_rates(arch)


def test_drop_path_drops_whole_samples_in_training_only():
    drop = DropPath(0.5, rngs=nnx.Rngs(0))
    x = jnp.ones((256, 2, 2, 3))
    first = np.asarray(drop(x))
    per_sample = first.reshape(256, -1)
    assert set(np.unique(per_sample)) == {0.0, 2.0}  # kept samples are rescaled by 1/(1-p)
    assert (per_sample.min(1) == per_sample.max(1)).all()  # a sample is dropped entirely
    assert 0.35 < (per_sample[:, 0] == 0).mean() < 0.65
    assert not np.array_equal(np.asarray(drop(x)), first)  # the stream advances per call
    drop.eval()
    np.testing.assert_array_equal(drop(x), x)


def test_preprocessing_follows_torchvision_weights():
    b3 = models.get_spec("efficientnet_b3").preprocessing
    assert (b3.input_size, b3.interpolation, b3.crop_pct) == (300, "bicubic", 300 / 320)
