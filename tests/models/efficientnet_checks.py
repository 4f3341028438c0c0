"""Checks shared by test_efficientnet.py and test_efficientnet_v2.py (torchvision layout)."""

import numpy as np
import torch
import torchvision
from flax import nnx

from artjax import models
from jit_parity import assert_parity, calibrate_with_floor, load_converted


def meta_torch(arch, **kwargs):
    with torch.device("meta"):  # structure only: no initialisation cost
        return getattr(torchvision.models, arch)(**kwargs)


def check_converted_model_matches_torch(arch, tmp_path):
    """Eval logits / pooled features and train-mode BatchNorm statistics, at 64 px."""
    torch.manual_seed(0)
    # Stochastic depth off in both, so the train-mode forward is deterministic.
    tmodel = getattr(torchvision.models, arch)(num_classes=7, stochastic_depth_prob=0.0)
    calibrate_with_floor(tmodel, torch.randn(4, 3, 64, 64))
    model = load_converted(tmodel, arch, tmp_path, num_classes=7, stochastic_depth_prob=0.0)
    assert assert_parity(tmodel, model, arch, torch.randn(2, 3, 64, 64),
                         classifier="classifier.1") > 0


def check_stage_layout(arch, groups):
    """stem, stage1..N = torchvision's features[1..N] (same block counts), final, head."""
    model = nnx.eval_shape(lambda: models.create(arch))
    stages = tuple(f"stage{i}" for i in range(1, groups + 1))
    assert model.stage_names == ("stem", *stages, "final", "head")
    tmodel = meta_torch(arch)
    assert [len(getattr(model, s)) for s in stages] == [len(tmodel.features[i])
                                                        for i in range(1, groups + 1)]
    assert model.num_features == tmodel.classifier[1].in_features


def check_batchnorm_settings_and_drop_rates(arch):
    """BatchNorm eps / momentum, per-block stochastic depth and head dropout as torchvision's."""
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
