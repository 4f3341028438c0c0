"""Key maps: renaming and transposing a PyTorch state dict onto an artjax model's nnx paths.

A `KeyMap` maps torch *module* names (a key without its last '.weight' / '.bias' / ... part) with
regex rules, tried in order with `re.fullmatch`; the template (re.sub syntax, '/'-separated nnx
path) names the artjax module, or None drops the key (e.g. auxiliary heads). `map_state_dict`
then picks the leaf itself: weight -> kernel (conv / linear) or scale (BatchNorm), bias -> bias,
running_mean -> mean, running_var -> var; num_batches_tracked is dropped. It transposes conv
kernels OIHW -> HWIO (depthwise too: (C,1,kh,kw) -> (kh,kw,1,C)), linear weights (O,I) -> (I,O),
and 1x1 conv weights onto Linear kernels.

This module knows no architecture: each family's rules live beside its model code
(artjax/models/keymaps/<family>.py).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Sequence

import numpy as np

from artjax.weights.read import StateDict
from artjax.weights.store import short_list

# torch parameter name -> candidate nnx leaf names, first one the target module has wins.
_LEAVES = {"weight": ("kernel", "scale"), "bias": ("bias",), "running_mean": ("mean",),
           "running_var": ("var",)}
_DROPPED_LEAVES = ("num_batches_tracked",)


@dataclasses.dataclass(frozen=True)
class KeyMap:
    """rules: (regex on the torch module name, nnx module path template or None to drop).
    classifier: torch key whose first dimension is the class count (e.g. 'fc.weight').
    prepare: rewrites the whole state dict before the rules apply (e.g. another naming scheme
    onto the one the rules expect); `prepared(sd)` applies it."""

    rules: Sequence[tuple[str, str | None]]
    classifier: str
    prepare: Callable[[StateDict], StateDict] | None = None

    def prepared(self, sd: StateDict) -> StateDict:
        """`sd` after `prepare` (unchanged without one)."""
        return sd if self.prepare is None else self.prepare(sd)

    def module_path(self, torch_module: str) -> str | None:
        """The nnx path of a torch module name; None = drop; KeyError = no rule matches."""
        for pattern, template in self.rules:
            m = re.fullmatch(pattern, torch_module)
            if m:
                return None if template is None else m.expand(template)
        raise KeyError(torch_module)


def sequential_rules(prefix: str, paths: Sequence[str | None]) -> list[tuple[str, str]]:
    """Rules for a torch nn.Sequential named `prefix`: `paths[i]` is the nnx module path of the
    layer at index i, or None for layers without parameters (ReLU, pooling, dropout)."""
    return [(rf"{re.escape(prefix)}\.{i}", path) for i, path in enumerate(paths) if path]


def map_state_dict(sd: StateDict, keymap: KeyMap, target: dict[str, tuple[int, ...]], *,
                   what: str) -> StateDict:
    """Renames and transposes `sd` (already `keymap.prepared`) onto `target` (nnx path ->
    shape); one ValueError lists every unmapped, missing and mis-shaped key."""
    out: StateDict = {}
    seen: set[str] = set()
    unexpected, misshaped = [], []
    for key, value in sd.items():
        module, _, leaf = key.rpartition(".")
        if leaf in _DROPPED_LEAVES:
            continue
        try:
            prefix = keymap.module_path(module)
        except KeyError:
            unexpected.append(key)
            continue
        if prefix is None:
            continue
        name = next((c for c in _LEAVES.get(leaf, ()) if f"{prefix}/{c}" in target), leaf)
        path = f"{prefix}/{name}"
        if path not in target or path in seen:
            unexpected.append(key)
            continue
        seen.add(path)
        array = _to_flax(value, name, target[path])
        if array.shape != target[path]:
            misshaped.append(f"{key} {tuple(value.shape)} -> {path} {target[path]}")
            continue
        # Contiguous copies: orbax writes strided (transposed) views several times slower.
        out[path] = np.ascontiguousarray(array)
    missing = sorted(set(target) - seen)
    if unexpected or missing or misshaped:
        parts = [f"{label} ({len(items)}): {short_list(items)}"
                 for label, items in [("unexpected keys", unexpected),
                                      ("missing parameters", missing),
                                      ("mis-shaped", misshaped)] if items]
        raise ValueError(f"{what}: " + "; ".join(parts))
    return out


def _to_flax(value: np.ndarray, leaf: str, target_shape: tuple[int, ...]) -> np.ndarray:
    if leaf != "kernel":
        return value
    if value.ndim == 4 and len(target_shape) == 2 and value.shape[2:] == (1, 1):
        return value[:, :, 0, 0].T  # 1x1 conv weights onto a Linear
    if value.ndim == 4:
        return value.transpose(2, 3, 1, 0)  # OIHW -> HWIO (depthwise: (C,1,h,w) -> (h,w,1,C))
    if value.ndim == 2:
        return value.T  # (out, in) -> (in, out)
    return value
