"""DenseNet 121/161/169/201: parity with torchvision, legacy key names, stage map shapes.

Forward parity runs on DenseNet-121 only (its compilation alone takes ~15 s here); 161/169/201
are the same code with other block counts and widths, checked by structure (parameter count,
key-map coverage of torchvision's state dict) in test_interface.py.
"""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")

from artjax import models  # noqa: E402
from artjax.models import keymaps  # noqa: E402
from artjax.weights import store  # noqa: E402
from artjax.weights.keymap import map_state_dict  # noqa: E402
from jit_parity import assert_parity, calibrate_with_floor, load_converted  # noqa: E402


def test_converted_torchvision_model_matches_torch(tmp_path):
    arch = "densenet121"
    torch.manual_seed(0)
    tmodel = getattr(torchvision.models, arch)(num_classes=7)
    torch.nn.init.normal_(tmodel.classifier.weight, std=0.05)  # torchvision's bias 0 stays
    calibrate_with_floor(tmodel, torch.randn(4, 3, 64, 64))
    model = load_converted(tmodel, arch, tmp_path, num_classes=7)
    assert assert_parity(tmodel, model, arch, torch.randn(2, 3, 64, 64),
                         classifier="classifier") > 0


def test_legacy_dense_layer_key_names_convert_identically():
    """torchvision's downloadable files spell `denselayer1.norm.1`, its modules `norm1`."""
    with torch.device("meta"):
        sd = torchvision.models.densenet121(num_classes=10).state_dict()
    sd = {k: np.zeros(v.shape, np.float32) + i for i, (k, v) in enumerate(sd.items())}
    legacy = {re.sub(r"(denselayer\d+\.(?:norm|conv))([12])", r"\1.\2", k): v
              for k, v in sd.items()}
    assert legacy.keys() != sd.keys()
    target = {k: tuple(v.shape) for k, v in store.model_arrays(
        nnx.eval_shape(lambda: models.create("densenet121", num_classes=10))).items()}
    keymap = keymaps.get("densenet", "densenet121", "torchvision")
    modern = map_state_dict(sd, keymap, target, what="modern")
    old = map_state_dict(legacy, keymap, target, what="legacy")
    assert modern.keys() == old.keys() == target.keys()
    for k in modern:
        np.testing.assert_array_equal(modern[k], old[k])


def test_norm5_closes_stage4_and_map_shapes():
    model = nnx.eval_shape(lambda: models.create("densenet121"))
    assert model.stage4.norm5.scale.shape == (1024,) and model.num_features == 1024
    graphdef, state = nnx.split(model)
    maps = jax.eval_shape(lambda s, x: nnx.merge(graphdef, s).forward_features(x)[1], state,
                          jax.ShapeDtypeStruct((1, 64, 64, 3), jnp.float32))
    assert {k: v.shape[1:] for k, v in maps.items()} == {
        "stem": (16, 16, 64), "stage1": (8, 8, 128), "stage2": (4, 4, 256),
        "stage3": (2, 2, 512), "stage4": (2, 2, 1024)}
