"""Loading an experiment file (`path.py[:variant]`) or a run's saved config, and checking
override keys."""

from __future__ import annotations

import importlib.util
import ast
import json
import os

import ml_collections

from artjax.config.defaults import defaults
from artjax.config.validate import ConfigError, flat_keys, suggestion


def load_config(spec: str) -> ml_collections.ConfigDict:
    """Returns `get_config(variant)` of the experiment file named by `spec` = 'file.py[:variant]'."""
    path, _, variant = spec.partition(":")
    if not os.path.isfile(path):
        raise ConfigError("config", f"no experiment file '{path}'")
    module_spec = importlib.util.spec_from_file_location(f"artjax_experiment_{abs(hash(path))}", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    if not hasattr(module, "get_config"):
        raise ConfigError("config", f"'{path}' defines no get_config(arg=None)")
    return module.get_config(variant or None)


def check_key(config: ml_collections.ConfigDict, key: str) -> None:
    """Raises ConfigError with a suggestion when `key` (dotted) is not in `config`."""
    keys = list(flat_keys(config))
    if key not in keys:
        raise ConfigError(key, f"unknown key{suggestion(key, keys)}")



def apply_override(config: ml_collections.ConfigDict, key: str, text: str) -> None:
    """Sets dotted `key` from command-line `text`, read as the field's type (booleans as
    true/false, numbers as numbers, tuples as Python literals), as `--config.key=value` does."""
    check_key(config, key)
    *parents, leaf = key.split(".")
    node = config
    for part in parents:
        node = node[part]
    current = node[leaf]
    try:
        if isinstance(current, bool):
            value = {"true": True, "false": False}[text.strip().lower()]
        elif isinstance(current, (int, float)):
            value = type(current)(text)
        elif isinstance(current, str):
            value = text
        else:
            value = ast.literal_eval(text)
            value = tuple(value) if isinstance(current, tuple) and isinstance(value, (list, tuple)) else value
    except (KeyError, ValueError, SyntaxError):
        raise ConfigError(key, f"cannot read {text!r} as a {type(current).__name__}") from None
    node[leaf] = value


def load_saved_config(path: str) -> ml_collections.ConfigDict:
    """The resolved config a run saved as JSON (`DIR/config.json`), on top of today's defaults."""
    with open(path) as f:
        saved = json.load(f)
    config = defaults()
    try:
        config.update(saved)
    except (AttributeError, KeyError, TypeError) as error:
        raise ConfigError("config", f"{path} does not fit this artjax version's config schema: {error}") from None
    return config
