"""Shared helpers for torch-parity tests: convert a torch model through the CLI, compare outputs.

Import torch only from tests (it is an optional dependency of artjax).
"""

from __future__ import annotations

import logging
import pathlib
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
import torch
import torchvision
from flax import nnx
from torch import nn

from artjax import models
from artjax.models import keymaps
from artjax.weights import store
from artjax.weights.__main__ import main as weights_cli

ATOL = RTOL = 1e-4


def calibrate_batchnorm(module: torch.nn.Module, x: torch.Tensor,
                        gamma_scale: Callable[[str], float] = lambda name: 1.0) -> None:
    """Random BN affine parameters (gamma times `gamma_scale(module name)`), and running
    statistics measured on `x` (as a trained network's are), so eval-mode activations stay O(1)
    in deep random networks instead of growing to where float32 rounding alone exceeds the 1e-4
    tolerance."""
    g = torch.Generator().manual_seed(1)
    bns = [(n, m) for n, m in module.named_modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for name, m in bns:
        m.weight.data.copy_((torch.rand(m.num_features, generator=g) + 0.5) * gamma_scale(name))
        m.bias.data.copy_(torch.rand(m.num_features, generator=g) - 0.5)
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the calibration forward
    module.train()
    with torch.no_grad():
        module(x)
    for _, m in bns:
        m.momentum = 0.1
    module.eval()


def convert(tmodel: torch.nn.Module, arch: str, tmp_path, *,
            source: str = "torchvision") -> pathlib.Path:
    """torch state dict -> .pth -> `python -m artjax.weights convert` -> the weight directory."""
    pth = tmp_path / f"{arch}.pth"
    torch.save(tmodel.state_dict(), pth)
    out = tmp_path / f"{arch}_artjax"
    assert weights_cli(["convert", "--arch", arch, "--source", source, "--input", str(pth),
                        "--output", str(out)]) == 0
    return out


def convert_and_load(tmodel: torch.nn.Module, arch: str, tmp_path, *,
                     source: str = "torchvision") -> models.Backbone:
    """`convert`, then `create(weights=...)` with the torch model's class count."""
    out = convert(tmodel, arch, tmp_path, source=source)
    num_classes = next(m for m in reversed(list(tmodel.modules()))
                       if isinstance(m, torch.nn.Linear)).out_features
    return models.create(arch, num_classes=num_classes, weights=str(out))


def nhwc(x: torch.Tensor) -> jax.Array:
    return jnp.asarray(x.permute(0, 2, 3, 1).numpy())


def assert_close(actual, expected, what: str) -> None:
    np.testing.assert_allclose(np.asarray(actual), np.asarray(expected), atol=ATOL, rtol=RTOL,
                               err_msg=what)


def assert_eval_parity(tmodel: torch.nn.Module, model: models.Backbone, x: torch.Tensor,
                       torch_pooled) -> None:
    """Eval-mode logits and pooled features equal torch's; `torch_pooled(tmodel, x)` gives the
    reference pooled features."""
    tmodel.eval()
    model.eval()
    with torch.no_grad():
        ref_logits = tmodel(x).numpy()
        ref_pooled = torch_pooled(tmodel, x).numpy()
    pooled, maps = model.forward_features(nhwc(x))
    assert set(maps) == set(model.stage_names) - {"head"}
    assert_close(pooled, ref_pooled, "pooled features")
    assert_close(model(nhwc(x)), ref_logits, "logits")


def assert_train_batchnorm_parity(tmodel: torch.nn.Module, model: models.Backbone, arch: str,
                                  x: torch.Tensor, *, logits: bool = False) -> int:
    """One training-mode forward in both: every updated BatchNorm running statistic matches
    (and the logits, when `logits` and the model has no dropout). Returns how many statistics
    arrays were compared."""
    tmodel.train()
    model.train()
    with torch.no_grad():
        ref = tmodel(x).numpy()
    out = model(nhwc(x))
    if logits:
        assert_close(out, ref, "training-mode logits (batch statistics)")
    target = store.model_arrays(model)
    keymap = keymaps.for_model(arch, "torchvision")
    compared = set()
    for key, value in tmodel.state_dict().items():
        module, _, leaf = key.rpartition(".")
        if leaf in ("running_mean", "running_var"):
            path = f"{keymap.module_path(module)}/{leaf.removeprefix('running_')}"
            assert_close(target[path], value.numpy(), f"running statistic {key} -> {path}")
            compared.add(path)
    assert compared == {k for k in target if k.endswith(("/mean", "/var"))}
    return len(compared)


def assert_classifier_keeps_its_4096_layers(tmodel: torch.nn.Module, arch: str,
                                            weights: pathlib.Path, caplog) -> None:
    """The 1000-class `tmodel`'s conversion `weights` loaded into a 10-class `arch` (head
    'vgg_classifier' / 'alexnet_classifier'): both 4096-wide layers are the file's, the last
    Linear is new, and the log says so."""
    fc1, fc2, fc3 = [m for m in tmodel.classifier if isinstance(m, torch.nn.Linear)]
    assert fc3.out_features == 1000
    with caplog.at_level(logging.WARNING, logger="artjax.weights.store"):
        model = models.create(arch, num_classes=10, weights=str(weights))
    for name, torch_linear in (("fc1", fc1), ("fc2", fc2)):
        layer = getattr(model.head, name)
        np.testing.assert_array_equal(layer.kernel[...], torch_linear.weight.detach().numpy().T)
        np.testing.assert_array_equal(layer.bias[...], torch_linear.bias.detach().numpy())
    assert model.head.fc3.kernel.shape == (4096, 10) and model.head.fc3.bias.shape == (10,)
    assert "new head/fc3; loaded head/fc1, head/fc2" in caplog.text


def torch_alexnet_bn(num_classes: int) -> nn.Module:
    """The S4 AlexNet in torch: paper widths, BatchNorm after each conv, 227 px."""
    layers, cin = [], 3
    for cout, k, s, p, pool in [(96, 11, 4, 0, True), (256, 5, 1, 2, True),
                                (384, 3, 1, 1, False), (384, 3, 1, 1, False),
                                (256, 3, 1, 1, True)]:
        layers += [nn.Conv2d(cin, cout, k, s, p), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]
        layers += [nn.MaxPool2d(3, 2)] if pool else []
        cin = cout
    model = torchvision.models.AlexNet(num_classes=num_classes)
    model.features = nn.Sequential(*layers)
    model.classifier[1] = nn.Linear(256 * 36, 4096)
    return model


def param_count(model: nnx.Module) -> int:
    return sum(int(np.prod(v.shape)) for v in jax.tree.leaves(nnx.state(model, nnx.Param)))


def abstract_param_count(arch: str, **kwargs) -> int:
    """Parameter count of `create(arch, **kwargs)` without allocating it."""
    return param_count(nnx.eval_shape(lambda: models.create(arch, **kwargs)))


def torch_param_count(tmodel: torch.nn.Module) -> int:
    return sum(p.numel() for p in tmodel.parameters())
