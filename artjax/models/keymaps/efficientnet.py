"""torchvision EfficientNet B0-B7 / V2 -> artjax EfficientNet (artjax/models/efficientnet.py).

torchvision numbers the layers of a block's `block` Sequential, and whether a block has an
expand conv depends on its group, so the rules are generated per group from the config.
"""

from artjax.models.efficientnet import CONFIGS
from artjax.weights.keymap import KeyMap

SOURCES = ("torchvision",)

_CONV_BN = ((0, "conv"), (1, "bn"))  # Conv2dNormActivation's Sequential indices


def keymap(arch: str, source: str) -> KeyMap:
    cfg = CONFIGS[arch]
    rules = [(rf"features\.0\.{i}", f"stem/{leaf}") for i, leaf in _CONV_BN]
    for k, stage in enumerate(cfg.stages, start=1):
        expands = stage.expand_ratio != 1
        if stage.fused:
            parts = ["fused", "project"] if expands else ["fused"]
        else:
            parts = ["expand", "dw", "se", "project"] if expands else ["dw", "se", "project"]
        for i, part in enumerate(parts):
            prefix = rf"features\.{k}\.(\d+)\.block\.{i}"
            if part == "se":
                rules.append((rf"{prefix}\.(fc[12])", rf"stage{k}/\1/se/\2"))
            else:
                rules += [(rf"{prefix}\.{j}", rf"stage{k}/\1/{part}/{leaf}")
                          for j, leaf in _CONV_BN]
    last = len(cfg.stages) + 1
    rules += [(rf"features\.{last}\.{i}", f"final/{leaf}") for i, leaf in _CONV_BN]
    rules.append((r"classifier\.1", "head/fc"))
    return KeyMap(rules, classifier="classifier.1.weight")
