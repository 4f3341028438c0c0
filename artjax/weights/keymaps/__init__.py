"""Key maps: how a PyTorch state dict's names map onto an artjax family's nnx paths.

Adding a family or a source (e.g. EfficientNet from timm): create
`artjax/weights/keymaps/<family>.py`, where <family> is the registry family of the model (by
default the name of its file in artjax/models/, e.g. 'efficientnet'), defining

    SOURCES = ('torchvision', 'timm')           # sources it understands
    def keymap(arch: str, source: str) -> KeyMap: ...

Nothing else needs editing: the converter imports the module by family name. A `KeyMap` maps
torch *module* names (the key without its last '.weight'/'.bias'/... part) with regex rules,
tried in order with `re.fullmatch`; the template (re.sub syntax, '/'-separated nnx path) names
the artjax module, or None drops the key (e.g. auxiliary heads). The converter then picks the
leaf itself: weight -> kernel (conv / linear) or scale (BatchNorm), bias -> bias, running_mean
-> mean, running_var -> var; num_batches_tracked is dropped. It transposes conv kernels OIHW ->
HWIO (depthwise too: (C,1,kh,kw) -> (kh,kw,1,C)), linear weights (O,I) -> (I,O), and 1x1 conv
weights onto Linear kernels. `prepare` rewrites the whole state dict first (e.g. rename
lukemelas keys, which follow timm's order, to timm's names) and `preprocessing` overrides the
registered one (lukemelas: mean = std = 0.5).
"""

from __future__ import annotations

import dataclasses
import importlib
import re
from collections.abc import Callable, Sequence
from types import ModuleType

import numpy as np

from artjax.models.base import Preprocessing

StateDict = dict[str, np.ndarray]


@dataclasses.dataclass(frozen=True)
class KeyMap:
    """rules: (regex on the torch module name, nnx module path template or None to drop).
    classifier: torch key whose first dimension is the class count (e.g. 'fc.weight')."""

    rules: Sequence[tuple[str, str | None]]
    classifier: str
    prepare: Callable[[StateDict], StateDict] | None = None
    preprocessing: Preprocessing | None = None

    def module_path(self, torch_module: str) -> str | None:
        """The nnx path of a torch module name; None = drop; KeyError = no rule matches."""
        for pattern, template in self.rules:
            m = re.fullmatch(pattern, torch_module)
            if m:
                return None if template is None else m.expand(template)
        raise KeyError(torch_module)


def family_module(family: str) -> ModuleType:
    """The key-map module of a registry family (ValueError if there is none)."""
    try:
        return importlib.import_module(f"{__name__}.{family}")
    except ModuleNotFoundError as e:
        if e.name != f"{__name__}.{family}":
            raise
        raise ValueError(f"no weight key map for model family {family!r} "
                         f"(expected artjax/weights/keymaps/{family}.py)") from None


def get(family: str, arch: str, source: str) -> KeyMap:
    """The KeyMap converting `source` weights of `arch` (ValueError if unsupported)."""
    module = family_module(family)
    if source not in module.SOURCES:
        raise ValueError(f"{arch}: unsupported weight source {source!r}; "
                         f"{family} weights convert from {', '.join(module.SOURCES)}")
    return module.keymap(arch, source)


def sequential_rules(prefix: str, paths: Sequence[str | None]) -> list[tuple[str, str]]:
    """Rules for a torch nn.Sequential named `prefix`: `paths[i]` is the nnx module path of the
    layer at index i, or None for layers without parameters (ReLU, pooling, dropout)."""
    return [(rf"{re.escape(prefix)}\.{i}", path) for i, path in enumerate(paths) if path]
