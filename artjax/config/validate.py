"""Config checks that run before any work: each failure names the key it is about."""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable, Iterator, Sequence

import ml_collections


class ConfigError(ValueError):
    """A config problem, reported to the user as one line naming `key`."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"config key '{key}': {message}")
        self.key = key


def flat_keys(config: ml_collections.ConfigDict, prefix: str = "") -> Iterator[str]:
    """Every leaf key of `config` as a dotted path."""
    for name, value in config.items():
        path = f"{prefix}{name}"
        if isinstance(value, ml_collections.ConfigDict):
            yield from flat_keys(value, path + ".")
        else:
            yield path


def suggestion(name: str, known: Iterable[str]) -> str:
    """' (did you mean 'x'?)' for the closest known name, or ''."""
    known = list(known)
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    if not close and "." in name:  # a typo in the last component: compare within the section
        section, leaf = name.rsplit(".", 1)
        leaves = [k[len(section) + 1:] for k in known if k.startswith(section + ".")]
        close = [f"{section}.{c}" for c in difflib.get_close_matches(leaf, leaves, n=1)]
    return f" (did you mean '{close[0]}'?)" if close else ""


_DTYPES = ("float32", "bfloat16")  # compute dtypes; parameters are float32 whatever the choice
_POSITIVE = ("data.image_size", "data.cache_short_side", "train.epochs", "train.batch_size", "eval.every_epochs",
             "train.log_every_steps", "checkpoint.keep", "checkpoint.keep_best", "optimizer.accumulate_steps")
_NON_NEGATIVE = ("optimizer.learning_rate", "optimizer.weight_decay", "data.workers",
                 "checkpoint.every_steps", "eval.batch_size", "model.num_classes", "optimizer.grad_clip_norm",
                 "mix.cutmix_alpha", "mix.mixup_alpha", "loss.label_smoothing",
                 "train.early_stop_patience", "data.top_classes")
_PROBABILITIES = ("mix.prob", "mix.switch_prob", "data.val_fraction")
_REQUIRED_BY_SOURCE = {
    "folder": ("data.root",),
    "csv": ("data.csv",),
    "wikiart": ("data.root",),
    "tfds": ("data.tfds_name",),
    "arrays": ("data.arrays",),
}


def _get(config: ml_collections.ConfigDict, key: str):
    value = config
    for part in key.split("."):
        value = value[part]
    return value


def _implemented_choices() -> dict[str, Sequence[str]]:
    """Each set of choices from the module that implements it. Imported when validating, not
    when this module loads: they import JAX, and the CLI sets XLA flags before JAX loads."""
    from artjax.data import catalog
    from artjax.data.augment import PRESETS
    from artjax.data.sources import wikiart
    from artjax.eval import metrics, openset, views
    from artjax.models import heads, pyramid, resizer
    from artjax.train import checkpoint, ema, freeze, losses, optim, schedules

    return {
        "data.source": catalog.source_names(),
        "data.augment": tuple(PRESETS),
        "train.frozen_bn": freeze.BN_MODES,
        "optimizer.name": optim.NAMES,
        "schedule.name": schedules.NAMES,
        "schedule.mode": schedules.MODES,
        "schedule.threshold_mode": schedules.THRESHOLD_MODES,
        "loss.kind": losses.KINDS,
        "loss.class_weighting": losses.RULES,
        "model.head.kind": tuple(heads.KINDS),
        "model.pyramid.rule": pyramid.RULES,
        "eval.view": views.NAMES,
        "eval.openset_score": tuple(sorted(openset.SCORES)),
        "checkpoint.best_metric": metrics.SELECTABLE + tuple(ema.PREFIX + m for m in metrics.SELECTABLE),
        "checkpoint.weights": ema.WEIGHTS,
        "checkpoint.select": checkpoint.SELECT,
        "schedule.metric": metrics.SELECTABLE,
        "model.resizer.interpolation": resizer.INTERPOLATIONS,
        "model.dtype": _DTYPES,
        "data.task": wikiart.TASKS,
    }


def _check_openset(config: ml_collections.ConfigDict) -> None:
    from artjax.eval import openset

    held = config.data.holdout_classes
    if not all(isinstance(name, str) and name for name in held):
        raise ConfigError("data.holdout_classes", f"must be a tuple of class names, got {tuple(held)!r}")
    if len(set(held)) != len(held):
        raise ConfigError("data.holdout_classes", f"names a class twice: {tuple(held)!r}")
    multi_crop = config.eval.view != "full" or config.model.pyramid.enabled
    if openset.requires_raw_logits(config.eval.openset_score) and multi_crop:
        raise ConfigError("eval.openset_score", f"{config.eval.openset_score!r} needs the model's own logits; a "
                          "multi-crop view (or a pyramid model) gives log-probabilities: use 'msp' or eval.view 'full'")
    if openset.requires_gallery(config.eval.openset_score) and not config.eval.gallery:
        raise ConfigError("eval.openset_score", f"{config.eval.openset_score!r} needs the run's gallery: set "
                          "eval.gallery True")


def validate(config: ml_collections.ConfigDict) -> None:
    """Raises ConfigError for the first bad value; the schema itself guards names and types."""
    for key in flat_keys(config):  # nan passes every comparison below, and inf most
        values = _get(config, key)
        for value in values if isinstance(values, (tuple, list)) else (values,):
            if isinstance(value, float) and not math.isfinite(value):
                raise ConfigError(key, f"must be a finite number, got {value}")
    for key, choices in _implemented_choices().items():
        if _get(config, key) not in choices:
            raise ConfigError(key, f"{_get(config, key)!r} is not one of {', '.join(choices)}")
    for key in _POSITIVE:
        if _get(config, key) <= 0:
            raise ConfigError(key, f"must be > 0, got {_get(config, key)}")
    for key in _NON_NEGATIVE:
        if _get(config, key) < 0:
            raise ConfigError(key, f"must be >= 0, got {_get(config, key)}")
    for key in _REQUIRED_BY_SOURCE.get(config.data.source, ()):
        if not _get(config, key):
            raise ConfigError(key, f"required when data.source is '{config.data.source}'")
    for key in _PROBABILITIES:
        if not 0 <= _get(config, key) <= 1:
            raise ConfigError(key, f"must be in [0, 1], got {_get(config, key)}")
    if not 0 <= config.train.ema_decay < 1:
        raise ConfigError("train.ema_decay", f"must be in [0, 1), got {config.train.ema_decay}")
    if not config.train.ema_decay:
        if config.checkpoint.best_metric.startswith("ema_"):
            raise ConfigError("checkpoint.best_metric", f"{config.checkpoint.best_metric!r} needs train.ema_decay > 0")
        if config.checkpoint.weights == "ema":
            raise ConfigError("checkpoint.weights", "'ema' needs train.ema_decay > 0")
    pyramid = config.model.pyramid
    _check_openset(config)
    if pyramid.enabled:
        if config.mix.prob > 0:
            raise ConfigError("mix.prob", "batch mixing is not available for pyramid models (model.pyramid.enabled)")
        if pyramid.rule == "hard" and pyramid.level_loss_weight <= 0:
            raise ConfigError("model.pyramid.level_loss_weight", "must be > 0 for rule 'hard': votes carry no gradient")
        if pyramid.weights and len(pyramid.weights) != len(pyramid.levels):
            raise ConfigError("model.pyramid.weights", f"needs one weight per level {tuple(pyramid.levels)}")
        if pyramid.per_level_backbone and len(set(pyramid.levels)) != len(pyramid.levels):
            raise ConfigError("model.pyramid.levels", f"per-level backbones need distinct levels, got {tuple(pyramid.levels)}")
    if config.mix.prob > 0 and not (config.mix.cutmix_alpha or config.mix.mixup_alpha):
        raise ConfigError("mix.prob", "is > 0 but neither mix.cutmix_alpha nor mix.mixup_alpha is set")
    from artjax import models  # the registry is the truth about model names

    if config.model.name not in models.list_models():
        name = config.model.name
        raise ConfigError("model.name", f"unknown model '{name}'{suggestion(name, models.list_models())}")
