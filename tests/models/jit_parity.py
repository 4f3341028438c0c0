"""Torch-parity helpers for the large families (EfficientNet, Lite, DenseNet, GoogLeNet).

Same checks as parity.py, made affordable for deep models on 2 shared cores:
- `load_converted` converts with the CLI and loads with `create(..., weights=DIR)`, which builds
  the model under one jit (no eager Flax initialisation, one XLA program per parameter shape).
- `forward` runs a model under one `jax.jit` per mode instead of op by op.
Variants too big to compile in a test are checked by structure only, for every registered model,
in test_interface.py (parameter count, and every torch tensor mapped onto a same-shaped array).
"""

from __future__ import annotations

import jax
import numpy as np
import torch
from flax import nnx

from artjax import models
from artjax.models import keymaps
from artjax.weights import store
from artjax.weights.__main__ import main as weights_cli
from artjax.weights.keymap import map_state_dict
from parity import assert_close, calibrate_batchnorm, nhwc


def calibrate_with_floor(tmodel: torch.nn.Module, x: torch.Tensor, floor: float = 1e-3) -> None:
    """parity.calibrate_batchnorm, then running variances floored at `floor`: calibrated
    EfficientNets have near-dead channels (variance ~1e-6) whose 1/sqrt(var + eps) gain of ~300
    amplifies float32 rounding past the 1e-4 tolerance within a few blocks."""
    calibrate_batchnorm(tmodel, x)
    for m in tmodel.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_var.clamp_(min=floor)


def load_converted(tmodel: torch.nn.Module, arch: str, tmp_path, *, num_classes: int,
                   source: str = "torchvision", **options) -> models.Backbone:
    """torch state dict -> .pth -> `python -m artjax.weights convert` -> `create(arch,
    num_classes=..., weights=DIR, **options)`, in eval mode."""
    pth = tmp_path / f"{arch}.pth"
    torch.save(tmodel.state_dict(), pth)
    out = tmp_path / f"{arch}_artjax"
    assert weights_cli(["convert", "--arch", arch, "--source", source, "--input", str(pth),
                        "--output", str(out)]) == 0
    return models.create(arch, num_classes=num_classes, weights=str(out), **options)


def forward(model: models.Backbone, x: jax.Array, *, train: bool
            ) -> tuple[jax.Array, jax.Array, dict[str, jax.Array]]:
    """(logits, pooled, stage maps) of one jitted call in train or eval mode; the model's state
    (BatchNorm statistics, RNG counters) is updated as an eager call would."""
    (model.train if train else model.eval)()
    graphdef, state = nnx.split(model)

    @jax.jit
    def run(state, x):
        m = nnx.merge(graphdef, state)
        pooled, maps = m.forward_features(x)
        return m.head(pooled, maps[m.feature_stage]), pooled, maps, nnx.state(m)

    logits, pooled, maps, state = run(state, x)
    nnx.update(model, state)
    return logits, pooled, maps


def torch_forward(tmodel: torch.nn.Module, x: torch.Tensor, classifier: str
                  ) -> tuple[np.ndarray, np.ndarray]:
    """(logits, pooled features) of torch, the pooled features being the input of the final
    Linear `classifier` (a dropout before it is identity in eval mode)."""
    seen = []
    hook = tmodel.get_submodule(classifier).register_forward_pre_hook(
        lambda _, args: seen.append(args[0]))
    with torch.no_grad():
        out = tmodel(x)
    hook.remove()
    logits = out[0] if isinstance(out, tuple) else out  # GoogLeNet's train-mode namedtuple
    return logits.numpy(), seen[-1].numpy()


def assert_parity(tmodel: torch.nn.Module, model: models.Backbone, arch: str, x: torch.Tensor,
                  *, classifier: str, source: str = "torchvision") -> int:
    """Eval-mode logits and pooled features equal torch's, every stage has a map, and after one
    train-mode forward in both every BatchNorm running statistic matches. Returns how many
    statistics arrays were compared."""
    tmodel.eval()
    ref_logits, ref_pooled = torch_forward(tmodel, x, classifier)
    logits, pooled, maps = forward(model, nhwc(x), train=False)
    assert set(maps) == set(model.stage_names) - {"head"}  # (jit returns dicts key-sorted)
    assert_close(pooled, ref_pooled, f"{arch} pooled features")
    assert_close(logits, ref_logits, f"{arch} logits")

    tmodel.train()
    torch_forward(tmodel, x, classifier)
    forward(model, nhwc(x), train=True)
    target = store.model_arrays(model)
    keymap = keymaps.for_model(arch, source)
    sd = {k: v.numpy() for k, v in tmodel.state_dict().items()}
    expected = map_state_dict(keymap.prepared(sd), keymap,
                              {k: tuple(v.shape) for k, v in target.items()}, what=arch)
    stats = [k for k in target if k.endswith(("/mean", "/var"))]
    for k in stats:
        assert_close(target[k], expected[k], f"{arch} running statistic {k}")
    model.eval()
    return len(stats)
