"""torchvision VGG (features.N / classifier.N) -> artjax VGG (artjax/models/vgg.py)."""

from artjax.models.vgg import CONFIGS
from artjax.weights.keymap import KeyMap, sequential_rules

SOURCES = ("torchvision",)


def keymap(arch: str, source: str) -> KeyMap:
    batch_norm = arch.endswith("_bn")
    features: list[str | None] = []  # torch's flat Sequential: conv, [bn,] relu ..., pool
    for b, widths in enumerate(CONFIGS[arch.removesuffix("_bn")]):
        for j in range(len(widths)):
            features.append(f"stage{b + 1}/{j}/conv")
            if batch_norm:
                features.append(f"stage{b + 1}/{j}/bn")
            features.append(None)
        features.append(None)
    classifier = ["head/fc1", None, None, "head/fc2", None, None, "head/fc3"]
    rules = sequential_rules("features", features) + sequential_rules("classifier", classifier)
    return KeyMap(rules, classifier="classifier.6.weight")
