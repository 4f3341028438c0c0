"""The PyTorch side: torchvision models in channels_last with one intra-op thread per core,
SGD momentum 0.9, the same shapes and the same uint8 -> normalised input as artjax's step; and a
torch DataLoader over the same artjax source and albumentations transform."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import cv2
import numpy as np
import timm
import torch
import torchvision
from torch import nn
from torchvision.models.resnet import BasicBlock

from artjax.data import augment
from artjax.data.sources import Source
from benchmarks import pipeline_data
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
    if side.model.startswith("efficientnet_lite"):  # not in torchvision
        return timm.create_model(side.model, num_classes=side.num_classes)
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
    crops = side.batch * side.crops()  # a pyramid scores every crop of the batch in one call
    images = torch.from_numpy(rng.integers(0, 256, (crops, side.size, side.size, 3), dtype=np.uint8))
    images = images.permute(0, 3, 1, 2)  # NCHW view of NHWC memory: channels_last
    labels = torch.from_numpy(rng.integers(0, side.num_classes, side.batch))
    autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=side.dtype == "bfloat16")

    def inputs() -> torch.Tensor:
        return ((images.float() - MEAN) / STD).contiguous(memory_format=torch.channels_last)

    def log_probs(logits: torch.Tensor) -> torch.Tensor:
        """Per image: log of the crops' mean softmax (the soft pyramid, equal level weights)."""
        probs = logits.float().softmax(-1).view(side.batch, side.crops(), -1).mean(1)
        return probs.add(1e-7).log()

    if side.mode == "train":
        model.train()
        optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.01, momentum=0.9)
        loss_fn = nn.NLLLoss() if side.pyramid else nn.CrossEntropyLoss()

        def run(n: int) -> None:
            for _ in range(n):
                optimizer.zero_grad(set_to_none=True)
                with autocast:
                    logits = model(inputs()).float()
                    loss = loss_fn(log_probs(logits) if side.pyramid else logits, labels)
                loss.backward()
                optimizer.step()
    else:
        model.eval()

        def run(n: int) -> None:
            with torch.inference_mode(), autocast:
                for _ in range(n):
                    logits = model(inputs())
                    (log_probs(logits) if side.pyramid else logits).argmax(-1)

    return _nothing, run, {"threads": torch.get_num_threads(), "torch": torch.__version__}


class _Dataset(torch.utils.data.Dataset):
    def __init__(self, source: Source, transform: Any) -> None:
        self.source = source
        self.transform = transform

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, index: int) -> tuple[np.ndarray, int]:
        record = self.source.read(index)
        return self.transform(record["image"], np.random.default_rng(index)), record["label"]


def _one_opencv_thread(worker_id: int) -> None:
    """Albumentations' advice for DataLoader workers: OpenCV's own thread pool in every worker
    process oversubscribes the cores (torch already limits its own threads to one per worker)."""
    del worker_id
    cv2.setNumThreads(1)


def _pipeline_runner(side: Side) -> tuple[Callable[[], None], Runner, dict[str, Any]]:
    dataset = _Dataset(pipeline_data.make_source(side.data),
                       augment.make_transform(side.augment, image_size=side.size, train=True))
    loader = torch.utils.data.DataLoader(dataset, batch_size=side.batch, shuffle=True, num_workers=side.workers,
                                         drop_last=True, worker_init_fn=_one_opencv_thread)
    return pipeline_data.iterator_runner(lambda: iter(loader), side)


def prepare(side: Side) -> tuple[Callable[[], None], Runner, dict[str, Any]]:
    """(untimed per-repeat preparation, run(n) that executes n steps, facts about the setup)."""
    torch.set_num_threads(os.cpu_count() or 1)
    return _pipeline_runner(side) if side.mode == "pipeline" else _model_runner(side)
