"""EfficientNet B0-B7: parity with torchvision, stage layout, stochastic depth.

Shared with test_efficientnet_v2.py (V2 S/M/L, kept apart so each file stays under ~90 s):
`check_*` helpers. B5-B7 are checked by structure only (parameter count, BatchNorm settings,
drop rates); their forward graph is B0's with more blocks.
"""

import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")

from artjax import models  # noqa: E402
from artjax.models.efficientnet import DropPath  # noqa: E402
from jit_parity import assert_parity, calibrate_with_floor, load_converted  # noqa: E402
from parity import abstract_param_count, torch_param_count  # noqa: E402



def meta_torch(arch, **kwargs):
    with torch.device("meta"):  # structure only: no initialisation cost
        return getattr(torchvision.models, arch)(**kwargs)


def check_parameter_count(arch):
    assert abstract_param_count(arch, num_classes=10) == torch_param_count(
        meta_torch(arch, num_classes=10))


def check_converted_model_matches_torch(arch, tmp_path):
    torch.manual_seed(0)
    # Stochastic depth off in both, so the train-mode forward is deterministic.
    tmodel = getattr(torchvision.models, arch)(num_classes=7, stochastic_depth_prob=0.0)
    calibrate_with_floor(tmodel, torch.randn(4, 3, 64, 64))
    model = load_converted(tmodel, arch, tmp_path, num_classes=7, stochastic_depth_prob=0.0)
    assert assert_parity(tmodel, model, arch, torch.randn(2, 3, 64, 64),
                         classifier="classifier.1") > 0


def check_stage_layout(arch, groups):
    model = nnx.eval_shape(lambda: models.create(arch))
    stages = tuple(f"stage{i}" for i in range(1, groups + 1))
    assert model.stage_names == ("stem", *stages, "final", "head")
    tmodel = meta_torch(arch)
    assert [len(getattr(model, s)) for s in stages] == [len(tmodel.features[i])
                                                        for i in range(1, groups + 1)]
    assert model.num_features == tmodel.classifier[1].in_features
    assert {path[0] for path, _ in nnx.to_flat_state(nnx.state(model, nnx.Param))} == set(
        model.stage_names)


def check_batchnorm_settings_and_drop_rates(arch):
    model = nnx.eval_shape(lambda: models.create(arch))
    tmodel = meta_torch(arch)
    bns = [m for _, m in nnx.iter_modules(model) if hasattr(m, "use_running_average")]
    tbns = [m for m in tmodel.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    # Flax momentum m is torch's 1 - m.
    assert sorted((b.epsilon, round(1 - b.momentum, 6)) for b in bns) == sorted(
        (t.eps, t.momentum) for t in tbns)
    stages = model.stage_names[1:-2]
    rates = [block.drop_path.rate for s in stages for block in getattr(model, s)]
    trates = [block.stochastic_depth.p for i in range(1, len(stages) + 1)
              for block in tmodel.features[i]]
    np.testing.assert_allclose(rates, trates, rtol=1e-12)
    assert model.head.dropout.rate == tmodel.classifier[0].p


@pytest.mark.parametrize("arch", [f"efficientnet_b{i}" for i in range(8)])
def test_parameter_count_equals_torchvision(arch):
    check_parameter_count(arch)


@pytest.mark.parametrize("arch", [f"efficientnet_b{i}" for i in range(5)])
def test_converted_torchvision_model_matches_torch(arch, tmp_path):
    check_converted_model_matches_torch(arch, tmp_path)


def test_stage_layout_follows_torchvision_features():
    check_stage_layout("efficientnet_b0", 7)


@pytest.mark.parametrize("arch", ["efficientnet_b0", "efficientnet_b5"])
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
