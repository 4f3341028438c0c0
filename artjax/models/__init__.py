"""artjax model zoo: `create(name, ...)`, `list_models()`, and the `Backbone` interface.

Importing this package imports every module of `artjax/models/`, so a family file registers its
models just by existing (see registry.py for the factory contract, base.py for Backbone). Its
weight key map lives in `keymaps/<family>.py`, found by family name when converting (convert.py).
"""

import importlib
import pkgutil

from artjax.models.base import IMAGENET, Backbone, Preprocessing
from artjax.models.registry import create, get_spec, list_models, register

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["IMAGENET", "Backbone", "Preprocessing", "create", "get_spec", "list_models",
           "register"]
