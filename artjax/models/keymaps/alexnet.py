"""torchvision AlexNet -> artjax AlexNet (artjax/models/alexnet.py).

`alexnet_bn` reads the same Sequential layout with a BatchNorm2d after each Conv2d.
"""

from artjax.models.alexnet import CONFIGS, POOLED
from artjax.weights.keymap import KeyMap, sequential_rules

SOURCES = ("torchvision",)


def keymap(arch: str, source: str) -> KeyMap:
    features: list[str | None] = []  # conv, [bn,] relu, [pool] per stage
    for i, pooled in enumerate(POOLED):
        features.append(f"stage{i + 1}/conv")
        if CONFIGS[arch].batch_norm:
            features.append(f"stage{i + 1}/bn")
        features += [None] * (2 if pooled else 1)
    classifier = [None, "head/fc1", None, None, "head/fc2", None, "head/fc3"]
    rules = sequential_rules("features", features) + sequential_rules("classifier", classifier)
    return KeyMap(rules, classifier="classifier.6.weight")
