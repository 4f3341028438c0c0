"""torchvision GoogLeNet -> artjax GoogLeNet (artjax/models/googlenet.py).

The auxiliary classifiers (`aux1.*`, `aux2.*`) are dropped: artjax's GoogLeNet has none, and
torchvision's ImageNet file carries them untrained anyway.
"""

from artjax.weights.keymap import KeyMap

SOURCES = ("torchvision",)

_STAGE = {"3": "stage1", "4": "stage2", "5": "stage3"}

RULES = [
    (r"(conv[123])\.(conv|bn)", r"stem/\1/\2"),
    (r"aux[12]\..*", None),
    # branch4.0 is its max-pool, so its conv is branch4.1.
    *[(rf"inception({k}[a-e])\.branch1\.(conv|bn)", rf"{stage}/inception\1/branch1/\2")
      for k, stage in _STAGE.items()],
    *[(rf"inception({k}[a-e])\.branch([23])\.([01])\.(conv|bn)",
       rf"{stage}/inception\1/branch\2/\3/\4") for k, stage in _STAGE.items()],
    *[(rf"inception({k}[a-e])\.branch4\.1\.(conv|bn)", rf"{stage}/inception\1/branch4/\2")
      for k, stage in _STAGE.items()],
    (r"fc", "head/fc"),
]


def keymap(arch: str, source: str) -> KeyMap:
    return KeyMap(RULES, classifier="fc.weight")
