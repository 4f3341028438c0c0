"""Freeze ranges: which parameters train, as an NNX filter.

`config.train.freeze` lists stage names ('stem', 'stage1', ...: a parameter is frozen when its
path starts with the stage) and/or regexes matched in full against the '/'-joined parameter
path (e.g. 'stage4/.*/bn.*/.*'). The filter goes to `nnx.Optimizer(..., wrt=filter)` and
`nnx.value_and_grad(..., argnums=nnx.DiffState(0, filter))`, so frozen parameters are neither
differentiated nor given optimiser state.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from typing import Any

import jax
from flax import nnx

BN_MODES = ("pytorch", "keras")  # train.frozen_bn: apply_frozen_bn


def _names(path: Sequence[Any]) -> tuple[str, ...]:
    return tuple(str(p) for p in path)


def stage_of(path: Sequence[Any]) -> str:
    """The stage a parameter path belongs to. Wrappers (Resizer, Pyramid) hold their backbone
    under `backbone` (a pyramid with per-level backbones also under `backbone_2x2`, ...), whose
    stages keep their names; the wrapper's own parts are stages too."""
    names = _names(path)
    inside = len(names) > 1 and (names[0] == "backbone" or re.fullmatch(r"backbone_\d+x\d+", names[0]))
    return names[1] if inside else names[0]


@dataclasses.dataclass(frozen=True)
class Trainable:
    """NNX filter `(path, variable) -> bool`: an nnx.Param outside every frozen stage and regex.

    A frozen dataclass, so it is hashable and compares by value (safe as static jit data).
    """

    stages: tuple[str, ...] = ()
    patterns: tuple[str, ...] = ()

    def frozen(self, path: Sequence[Any]) -> bool:
        names = _names(path)
        if names and stage_of(names) in self.stages:
            return True
        joined = "/".join(names)
        return any(re.fullmatch(p, joined) for p in self.patterns)

    def __call__(self, path: Sequence[Any], value: Any) -> bool:
        return isinstance(value, nnx.Param) and not self.frozen(path)


def _param_paths(model: nnx.Module) -> list[tuple[str, ...]]:
    flat = nnx.to_flat_state(nnx.state(model, nnx.Param))
    return [_names(path) for path, _ in flat]


def trainable_filter(freeze: Sequence[str] | str, stage_names: Sequence[str], *,
                     model: nnx.Module | None = None) -> Trainable:
    """The filter of trainable parameters given `freeze` entries (stage names or path regexes).

    A bare word that is not a stage name is an error (a misspelt stage would otherwise freeze
    nothing silently); with `model` given, so is a regex that matches no parameter.
    """
    entries = (freeze,) if isinstance(freeze, str) else tuple(freeze)
    stages, patterns = [], []
    for entry in entries:
        if entry in stage_names:
            stages.append(entry)
            continue
        if re.fullmatch(r"\w+", entry):
            raise ValueError(f"train.freeze entry {entry!r} is not a stage of this model; stages: "
                             f"{', '.join(stage_names)} (or give a regex over parameter paths)")
        try:
            re.compile(entry)
        except re.error as e:
            raise ValueError(f"train.freeze entry {entry!r} is neither a stage ({', '.join(stage_names)}) "
                             f"nor a valid regex: {e}") from None
        if model is not None and not any(re.fullmatch(entry, "/".join(p)) for p in _param_paths(model)):
            raise ValueError(f"train.freeze regex {entry!r} matches no parameter path (paths look like "
                             f"{'/'.join(_param_paths(model)[0])!r}); stages: {', '.join(stage_names)}")
        patterns.append(entry)
    return Trainable(tuple(stages), tuple(patterns))


def count_params(model: nnx.Module, filter: Any = nnx.Param) -> int:
    """Number of scalars in the variables `filter` selects (e.g. nnx.Param or a `Trainable`)."""
    return sum(x.size for x in jax.tree.leaves(nnx.state(model, filter)))


def apply_frozen_bn(model: nnx.Module, freeze: Sequence[str] | str, mode: str) -> None:
    """Sets BatchNorm behaviour in frozen parts; call after `model.train()`.

    'pytorch': nothing changes, frozen BatchNorm layers keep normalising with batch statistics
    and updating their running statistics in train mode (requires_grad=False in torch, S0).
    'keras': BatchNorm layers whose parameters are all frozen use their running statistics and
    do not update them (Keras `trainable=False`, S3). A BatchNorm without parameters follows its
    stage. Any module with a `use_running_average` attribute counts as a BatchNorm.
    """
    if mode not in BN_MODES:
        raise ValueError(f"train.frozen_bn must be one of {BN_MODES}, got {mode!r}")
    if mode == "pytorch":
        return
    trainable = trainable_filter(freeze, model.stage_names)
    for path, module in nnx.iter_modules(model):
        if getattr(module, "use_running_average", None) is None:
            continue
        params = [path + p for p, _ in nnx.to_flat_state(nnx.state(module, nnx.Param))]
        probe = params or [path]
        if all(trainable.frozen(p) for p in probe):
            module.use_running_average = True
