"""torchvision DenseNet -> artjax DenseNet (artjax/models/densenet.py).

torchvision's downloadable files use the legacy dense-layer names `norm.1` / `conv.2` (its
loader rewrites them to `norm1` / `conv2`); both spellings are accepted.
"""

from artjax.models.densenet import CONFIGS
from artjax.weights.keymap import KeyMap

SOURCES = ("torchvision",)


def keymap(arch: str, source: str) -> KeyMap:
    last = len(CONFIGS[arch].block_config)
    rules = [
        (r"features\.(conv0|norm0)", r"stem/\1"),
        (r"features\.denseblock(\d)\.(denselayer\d+)\.(norm|conv)\.?([12])",
         r"stage\1/block/\2/\3\4"),
        (r"features\.transition(\d)\.(norm|conv)", r"stage\1/transition/\2"),
        (r"features\.norm5", f"stage{last}/norm5"),
        (r"classifier", "head/fc"),
    ]
    return KeyMap(rules, classifier="classifier.weight")
