"""Each model family's weight key map: how a PyTorch state dict's names map onto its nnx paths.

`artjax/models/keymaps/<family>.py`, where <family> is the registry family of the model (by
default the name of its file in artjax/models/, e.g. 'efficientnet'), defines

    SOURCES = ('torchvision', 'timm')           # sources it understands
    def keymap(arch: str, source: str) -> KeyMap: ...

and nothing else needs editing: `get` imports the module by family name. The rule syntax and the
leaf / transpose conventions are those of `artjax.weights.keymap.KeyMap` (rules on torch module
names; `prepare` rewrites the whole state dict first, e.g. lukemelas' names onto timm's).
"""

from __future__ import annotations

import importlib
from types import ModuleType

from artjax.models.registry import get_spec
from artjax.weights.keymap import KeyMap


def family_module(family: str) -> ModuleType:
    """The key-map module of a registry family (ValueError if there is none)."""
    try:
        return importlib.import_module(f"{__name__}.{family}")
    except ModuleNotFoundError as e:
        if e.name != f"{__name__}.{family}":
            raise
        raise ValueError(f"no weight key map for model family {family!r} "
                         f"(expected artjax/models/keymaps/{family}.py)") from None


def get(family: str, arch: str, source: str) -> KeyMap:
    """The KeyMap converting `source` weights of `arch` (ValueError if unsupported)."""
    module = family_module(family)
    if source not in module.SOURCES:
        raise ValueError(f"{arch}: unsupported weight source {source!r}; "
                         f"{family} weights convert from {', '.join(module.SOURCES)}")
    return module.keymap(arch, source)


def for_model(arch: str, source: str) -> KeyMap:
    """The KeyMap converting `source` weights of registered model `arch`."""
    return get(get_spec(arch).family, arch, source)
