"""The artjax side: the real train and eval steps (train/trainer.make_trainer over the default
mesh, as the training loop builds them), or the real grain input pipeline. Import only after XLA_FLAGS are settled
(worker.py sets the XLA flags before anything imports JAX)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import numpy as np

from artjax.config.defaults import defaults
from artjax.data import augment, catalog, pipeline
from artjax.train import mesh as mesh_lib
from artjax.train.trainer import make_trainer
from benchmarks import pipeline_data
from benchmarks.cases import Side

Runner = Callable[[int], None]


def _nothing() -> None:
    """Model runs need no per-repeat preparation."""


def _config(side: Side) -> Any:
    config = defaults()
    config.model.name = side.model
    config.model.dtype = side.dtype
    config.model.head.kind = dict(side.head).get("kind", "linear")
    config.model.head.layers = dict(side.head).get("layers", 1)
    config.train.batch_size = side.batch
    config.train.freeze = side.freeze
    config.optimizer.name = "sgd"
    config.optimizer.momentum = 0.9
    if side.cutmix:
        config.mix.prob = 1.0
        config.mix.cutmix_alpha = 1.0
    if side.pyramid:
        config.model.pyramid.enabled = True
        config.model.pyramid.levels = side.pyramid
    return config


def _batch(side: Side, mesh: Any) -> dict[str, jax.Array]:
    rng = np.random.default_rng(0)
    crops = (side.crops(),) if side.pyramid else ()
    host = {"image": rng.integers(0, 256, (side.batch, *crops, side.size, side.size, 3), dtype=np.uint8),
            "label": rng.integers(0, side.num_classes, side.batch).astype(np.int32)}
    if side.mode == "inference":
        host["mask"] = np.ones(side.batch, np.float32)
    return mesh_lib.to_global(host, mesh_lib.batch_sharding(mesh))


def _model_runner(side: Side) -> tuple[Callable[[], None], Runner, dict[str, Any]]:
    trainer = make_trainer(_config(side), num_classes=side.num_classes, steps_per_epoch=1)
    mesh = trainer.mesh
    batch = _batch(side, mesh)
    box = {"state": trainer.state}  # the train step donates its input state; keep the newest one here
    if side.mode == "train":
        def run(n: int) -> None:
            out = None
            for _ in range(n):
                box["state"], out = trainer.train_step(box["state"], batch)
            jax.block_until_ready(out)
    else:
        def run(n: int) -> None:
            counts = mesh_lib.replicate(trainer.eval_plan.init_counts(), mesh)
            for _ in range(n):
                counts = trainer.eval_step(box["state"], batch, counts)
            jax.block_until_ready(counts)

    info = {"devices": jax.device_count(), "mesh": int(mesh.devices.size), "platform": jax.default_backend()}
    return _nothing, run, info


def _pipeline_runner(side: Side) -> tuple[Callable[[], None], Runner, dict[str, Any]]:
    source = pipeline_data.make_source(side.data)
    transform = augment.make_transform(side.augment, image_size=side.size, train=True)
    options = pipeline.PipelineOptions(workers=side.workers, errors=catalog.READ_ERRORS)
    epochs = iter(range(1_000_000))

    def new_iterator() -> Any:
        return pipeline.train_batches(source, epoch=next(epochs), batch_size=side.batch, transform=transform,
                                      seed=0, bad=pipeline.BadRecords(), options=options)

    return pipeline_data.iterator_runner(new_iterator, side)


def prepare(side: Side) -> tuple[Callable[[], None], Runner, dict[str, Any]]:
    """(untimed per-repeat preparation, run(n) that executes n steps and blocks until done,
    facts about the setup)."""
    return _pipeline_runner(side) if side.mode == "pipeline" else _model_runner(side)
