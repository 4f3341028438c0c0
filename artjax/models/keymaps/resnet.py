"""torchvision (and timm, same names) ResNet -> artjax ResNet (artjax/models/resnet.py)."""

from artjax.weights.keymap import KeyMap

SOURCES = ("torchvision", "timm")

RULES = [
    (r"conv1", "stem/conv"),
    (r"bn1", "stem/bn"),
    (r"layer(\d)\.(\d+)\.(conv|bn)(\d)", r"stage\1/\2/\3\4"),
    (r"layer(\d)\.(\d+)\.downsample\.0", r"stage\1/\2/downsample/conv"),
    (r"layer(\d)\.(\d+)\.downsample\.1", r"stage\1/\2/downsample/bn"),
    (r"fc", "head/fc"),
]


def keymap(arch: str, source: str) -> KeyMap:
    return KeyMap(RULES, classifier="fc.weight")
