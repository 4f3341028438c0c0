"""The benchmark cases: each times side A against side B, alternately, in one run.

A side is one framework running one workload; most cases put artjax (A) against its PyTorch
equivalent (B), some put two artjax settings side by side (CutMix on/off, 1 vs 2 host devices).
"""

from __future__ import annotations

import dataclasses
from typing import Any

MODES = ("train", "inference", "pipeline")
FRAMEWORKS = ("artjax", "torch")


@dataclasses.dataclass(frozen=True)
class Side:
    """One framework's workload. `devices` = None keeps artjax's default (JAX's one CPU device);
    a count forces that many XLA host devices, the batch sharded over them."""

    framework: str
    model: str
    mode: str
    batch: int
    size: int
    num_classes: int = 1000
    dtype: str = "float32"
    head: tuple[tuple[str, Any], ...] = ()  # artjax head options, e.g. (('kind', 'mlp'), ('layers', 2))
    freeze: tuple[str, ...] = ()
    cutmix: bool = False
    devices: int | None = None
    workers: int = 0  # pipeline: loader worker processes
    xla_flags: str = ""  # artjax: extra XLA_FLAGS of this side (flag experiments)
    pyramid: tuple[int, ...] = ()  # pyramid levels: each image is sum(n * n) crops (S1's 1, 2, 5 = 30)
    augment: str = "flip"  # pipeline: artjax.data.augment preset
    data: str = "painters"  # pipeline: painters | jpegs | jpegs_cached (see benchmarks/pipeline_data.py)

    def __post_init__(self) -> None:
        if self.framework not in FRAMEWORKS:
            raise ValueError(f"framework {self.framework!r} is not one of {FRAMEWORKS}")
        if self.mode not in MODES:
            raise ValueError(f"mode {self.mode!r} is not one of {MODES}")

    def label(self) -> str:
        extras = [f"freeze={'+'.join(self.freeze)}" if self.freeze else "",
                  "cutmix" if self.cutmix else "",
                  f"devices={self.devices}" if self.devices else "",
                  f"pyramid={'+'.join(map(str, self.pyramid))}" if self.pyramid else "",
                  self.xla_flags.replace("--xla_", ""),
                  f"workers={self.workers}" if self.mode == "pipeline" else "",
                  f"data={self.data}" if self.mode == "pipeline" and self.data != "painters" else "",
                  self.dtype if self.dtype != "float32" else ""]
        return " ".join([self.framework, *[e for e in extras if e]])

    def crops(self) -> int:
        """Model inputs per image: 1, or the pyramid's crop count."""
        return sum(n * n for n in self.pyramid) or 1

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Side:
        data = dict(data)
        data["head"] = tuple(tuple(kv) for kv in data["head"])
        data["freeze"] = tuple(data["freeze"])
        data["pyramid"] = tuple(data["pyramid"])
        return cls(**data)


@dataclasses.dataclass(frozen=True)
class Case:
    name: str
    group: str
    a: Side
    b: Side
    steps: int = 1  # steps (batches) per timed repeat
    warmup: int = 3


def _vs_torch(name: str, group: str, *, steps: int = 1, warmup: int = 3, **side: Any) -> Case:
    return Case(name, group, Side("artjax", **side), Side("torch", **side), steps=steps, warmup=warmup)


def _variants(name: str, group: str, a: dict[str, Any], b: dict[str, Any], *, steps: int = 1,
              **side: Any) -> Case:
    return Case(name, group, Side("artjax", **side, **a), Side("artjax", **side, **b), steps=steps)


_S0_HEAD = (("kind", "mlp"), ("layers", 2))
_FREEZES = {"none": (), "stem": ("stem",), "stem_stage1": ("stem", "stage1"),
            "stem_stage1_stage2": ("stem", "stage1", "stage2")}

# All of XLA:CPU's YNNPACK fusions (artjax's default, runtime.py, leaves out the elementwise ones).
_YNN = "--xla_cpu_experimental_ynn_fusion_type=dot,eltwise,reduce"

_LIST = [
    _vs_torch("smoke_resnet_mini_32", "smoke", model="resnet_mini", mode="train", batch=2, size=32,
              num_classes=10, warmup=1),
    _vs_torch("smoke_pipeline_painters_32", "smoke", model="none", mode="pipeline", batch=4, size=32, workers=1,
              augment="s1_b3", steps=2, warmup=1),
    _vs_torch("smoke_pyramid_mini_32", "smoke", model="resnet_mini", mode="train", batch=2, size=32, num_classes=10,
              pyramid=(1, 2), warmup=1),
    _vs_torch("resnet50_train_224", "models 224 px", model="resnet50", mode="train", batch=16, size=224),
    _vs_torch("resnet50_infer_224", "models 224 px", model="resnet50", mode="inference", batch=32, size=224),
    _vs_torch("efficientnet_b0_train_224", "models 224 px", model="efficientnet_b0", mode="train", batch=8,
              size=224),
    _vs_torch("efficientnet_b0_infer_224", "models 224 px", model="efficientnet_b0", mode="inference", batch=32,
              size=224),
    _vs_torch("vgg16_train_224", "models 224 px", model="vgg16", mode="train", batch=8, size=224),
    _vs_torch("vgg16_infer_224", "models 224 px", model="vgg16", mode="inference", batch=16, size=224),
    _vs_torch("resnet50_train_32", "CIFAR 32 px", model="resnet50", mode="train", batch=64, size=32,
              num_classes=10, steps=2),
    _vs_torch("resnet50_infer_32", "CIFAR 32 px", model="resnet50", mode="inference", batch=64, size=32,
              num_classes=10, steps=4),
    _vs_torch("vgg16_train_32", "CIFAR 32 px", model="vgg16", mode="train", batch=64, size=32, num_classes=10,
              steps=2),
    _vs_torch("vgg16_infer_32", "CIFAR 32 px", model="vgg16", mode="inference", batch=64, size=32, num_classes=10,
              steps=4),
    _vs_torch("efficientnet_b3_train_224", "models 224 px", model="efficientnet_b3", mode="train", batch=8,
              size=224),
    _vs_torch("efficientnet_b3_infer_224", "models 224 px", model="efficientnet_b3", mode="inference", batch=16,
              size=224),
    _vs_torch("efficientnet_lite0_train_224", "models 224 px", model="efficientnet_lite0", mode="train", batch=16,
              size=224),
    _vs_torch("efficientnet_lite0_infer_224", "models 224 px", model="efficientnet_lite0", mode="inference",
              batch=32, size=224),
    _vs_torch("pyramid_b0_infer_30crops", "pyramid", model="efficientnet_b0", mode="inference", batch=2, size=224,
              pyramid=(1, 2, 5)),
    _vs_torch("pyramid_b0_train_30crops", "pyramid", model="efficientnet_b0", mode="train", batch=2, size=128,
              pyramid=(1, 2, 5)),
    _vs_torch("resnet50_train_224_bf16", "bfloat16", model="resnet50", mode="train", batch=16, size=224,
              dtype="bfloat16"),
    _vs_torch("resnet50_infer_224_bf16", "bfloat16", model="resnet50", mode="inference", batch=32, size=224,
              dtype="bfloat16"),
    _variants("resnet50_bf16_vs_f32_train_224", "bfloat16", {"dtype": "bfloat16"}, {}, model="resnet50",
              mode="train", batch=16, size=224),
    _variants("resnet50_ynn_train_224", "XLA flags", {"xla_flags": _YNN}, {}, model="resnet50", mode="train",
              batch=16, size=224),
    _variants("resnet50_ynn_infer_224", "XLA flags", {"xla_flags": _YNN}, {}, model="resnet50", mode="inference",
              batch=32, size=224),
    _variants("resnet50_ynn_train_32", "XLA flags", {"xla_flags": _YNN}, {}, model="resnet50", mode="train",
              batch=64, size=32, num_classes=10, steps=2),
    _variants("resnet50_cutmix_224", "CutMix overhead", {"cutmix": True}, {}, model="resnet50", mode="train",
              batch=16, size=224),
    _variants("resnet50_devices_224", "host devices", {"devices": 2}, {"devices": 1}, model="resnet50",
              mode="train", batch=16, size=224),
    # The rest of the workloads that decided the one-device default, with the YNN fusions on.
    *[_variants(f"{model}_devices_{mode}_{size}", "host devices", {"devices": 2}, {"devices": 1}, model=model,
                mode=mode, batch=batch, size=size, num_classes=10 if size == 32 else 1000, steps=steps)
      for model, mode, batch, size, steps in (("resnet50", "inference", 32, 224, 1), ("resnet50", "train", 64, 32, 2),
                                              ("resnet50", "inference", 64, 32, 4),
                                              ("efficientnet_b0", "train", 8, 224, 1),
                                              ("efficientnet_b0", "inference", 32, 224, 1),
                                              ("efficientnet_b3", "train", 8, 224, 1),
                                              ("efficientnet_lite0", "train", 16, 224, 1),
                                              ("vgg16", "train", 8, 224, 1), ("vgg16", "inference", 16, 224, 1))],
    *[_vs_torch(f"resnet50_s0_freeze_{key}", "S0 freeze", model="resnet50", mode="train", batch=16, size=224,
                num_classes=25, head=_S0_HEAD, freeze=stages) for key, stages in _FREEZES.items()],
    *[_vs_torch(f"pipeline_{preset}_224_w{w}", "input pipeline", model="none", mode="pipeline", batch=32,
                size=224, workers=w, augment=preset, steps=6, warmup=2)
      for preset in ("s1_b3",) for w in (0, 1, 2)],
    # Big paintings: 2000x1500 JPEGs decoded every epoch, or once into the decoded-image cache.
    *[_vs_torch(f"pipeline_{data}_s1_b3_224_w{w}", "input pipeline", model="none", mode="pipeline", batch=32,
                size=224, workers=w, augment="s1_b3", data=data, steps=3, warmup=2)
      for data in ("jpegs", "jpegs_cached") for w in (0, 1, 2)],
]
CASES: dict[str, Case] = {case.name: case for case in _LIST}


def get_case(name: str) -> Case:
    if name not in CASES:
        raise ValueError(f"unknown case {name!r}; `python -m benchmarks --list` lists them")
    return CASES[name]
