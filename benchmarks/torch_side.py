"""The PyTorch side: torchvision models in channels_last with one intra-op thread per core,
SGD momentum 0.9, the same shapes and the same uint8 -> normalised input as artjax's step; and a
torch DataLoader over the same painters source and albumentations transform."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torchvision
from torch import nn
from torchvision.models.resnet import BasicBlock

from artjax.data import augment
from artjax.data.painters import PaintersSource
from benchmarks.cases import Side

Runner = Callable[[int], None]
STAGES = {"stem": ("conv1", "bn1"), "head": ("fc",)}  # torchvision ResNet names of artjax's stages
MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1) * 255
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1) * 255


def _nothing() -> None:
    """Model runs need no per-repeat preparation."""


def _resnet_mini(num_classes: int, width: int = 16) -> nn.Module:
    """artjax's resnet_mini (BasicBlock ResNet, one block per stage, widths 16..128) in torch."""
    model = torchvision.models.resnet18(num_classes=num_classes)
    model.conv1 = nn.Conv2d(3, width, 7, 2, 3, bias=False)
    model.bn1 = nn.BatchNorm2d(width)
    cin = width
    for i in range(4):
        cout, stride = width * 2**i, 1 if i == 0 else 2
        down = None if stride == 1 and cin == cout else nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                                                      nn.BatchNorm2d(cout))
        setattr(model, f"layer{i + 1}", nn.Sequential(BasicBlock(cin, cout, stride, down)))
        cin = cout
    model.fc = nn.Linear(cin, num_classes)
    return model


def _model(side: Side) -> nn.Module:
    if side.model == "resnet_mini":
        return _resnet_mini(side.num_classes)
    model = getattr(torchvision.models, side.model)(num_classes=side.num_classes)
    head = dict(side.head)
    if head.get("kind") == "mlp":  # artjax's MLP head: widths halve, ReLU between (dropout 0)
        width = model.fc.in_features
        layers: list[nn.Module] = []
        for _ in range(head["layers"] - 1):
            layers += [nn.Linear(width, width // 2), nn.ReLU()]
            width //= 2
        model.fc = nn.Sequential(*layers, nn.Linear(width, side.num_classes))
    for stage in side.freeze:
        for name in STAGES.get(stage, (stage.replace("stage", "layer"),)):
            getattr(model, name).requires_grad_(False)
    return model


def _model_runner(side: Side) -> tuple[Callable[[], None], Runner, dict[str, Any]]:
    model = _model(side).to(memory_format=torch.channels_last)
    rng = np.random.default_rng(0)
    images = torch.from_numpy(rng.integers(0, 256, (side.batch, side.size, side.size, 3), dtype=np.uint8))
    images = images.permute(0, 3, 1, 2)  # NCHW view of NHWC memory: channels_last
    labels = torch.from_numpy(rng.integers(0, side.num_classes, side.batch))
    autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=side.dtype == "bfloat16")

    def inputs() -> torch.Tensor:
        return ((images.float() - MEAN) / STD).contiguous(memory_format=torch.channels_last)

    if side.mode == "train":
        model.train()
        optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.01, momentum=0.9)
        loss_fn = nn.CrossEntropyLoss()

        def run(n: int) -> None:
            for _ in range(n):
                optimizer.zero_grad(set_to_none=True)
                with autocast:
                    loss = loss_fn(model(inputs()).float(), labels)
                loss.backward()
                optimizer.step()
    else:
        model.eval()

        def run(n: int) -> None:
            with torch.inference_mode(), autocast:
                for _ in range(n):
                    model(inputs()).argmax(-1)

    return _nothing, run, {"threads": torch.get_num_threads(), "torch": torch.__version__}


class _Dataset(torch.utils.data.Dataset):
    def __init__(self, source: PaintersSource, transform: Any) -> None:
        self.source = source
        self.transform = transform

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, index: int) -> tuple[np.ndarray, int]:
        record = self.source.read(index)
        return self.transform(record["image"], np.random.default_rng(index)), record["label"]


def _pipeline_runner(side: Side) -> tuple[Callable[[], None], Runner, dict[str, Any]]:
    dataset = _Dataset(PaintersSource(split="train", num_examples=100_000),
                       augment.make_transform(side.augment, image_size=side.size, train=True))
    loader = torch.utils.data.DataLoader(dataset, batch_size=side.batch, shuffle=True, num_workers=side.workers,
                                         drop_last=True)
    box: dict[str, Any] = {}

    def before() -> None:
        box["batches"] = iter(loader)  # as artjax's side: started before, closed after the clock
        next(box["batches"])

    def run(n: int) -> None:
        for _ in range(n):
            next(box["batches"])
        box.pop("batches")

    return before, run, {"workers": side.workers, "augment": side.augment}


def prepare(side: Side) -> tuple[Callable[[], None], Runner, dict[str, Any]]:
    """(untimed per-repeat preparation, run(n) that executes n steps, facts about the setup)."""
    torch.set_num_threads(os.cpu_count() or 1)
    return _pipeline_runner(side) if side.mode == "pipeline" else _model_runner(side)
