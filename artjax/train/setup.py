"""Building a run's model, optimiser and schedule from its config: shared by training,
evaluation and prediction, so a checkpoint always restores into the structure that wrote it."""

from __future__ import annotations

import dataclasses
from typing import Any

import jax.numpy as jnp
import ml_collections
from flax import nnx

from artjax import models
from artjax.models.compose import with_resizer
from artjax.models.pyramid import Pyramid
from artjax.train import ema, freeze, optim, schedules


@dataclasses.dataclass
class Built:
    model: nnx.Module  # a Backbone, or a wrapper around one (compose.py, pyramid.py)
    optimizer: nnx.Optimizer
    trainable: freeze.Trainable
    plateau: schedules.Plateau | None


def num_outputs(config: ml_collections.ConfigDict, num_classes: int) -> int:
    """Width of the model's output: one logit for sigmoid two-class models."""
    if config.loss.kind == "sigmoid":
        if num_classes != 2:
            raise ValueError(f"loss.kind 'sigmoid' needs two classes, the data has {num_classes}")
        return 1
    return num_classes


def head_options(config: ml_collections.ConfigDict) -> dict[str, Any]:
    """The head config as `models.create` takes it; heads that flatten a feature map are sized
    for the run's image size (or the Resizer's output size)."""
    resizer = config.model.resizer
    size = resizer.target_size if resizer.enabled else config.data.image_size
    return {**config.model.head.to_dict(), "input_size": size}


def build(config: ml_collections.ConfigDict, *, num_classes: int, steps_per_epoch: int) -> Built:
    """The model (with converted weights if configured), its optimiser over the trainable
    parameters only (and, with train.ema_decay, `optimizer.ema`: the average of the weights), and
    the learning-rate schedule in optimiser updates."""
    dtype = jnp.dtype(config.model.dtype)
    model = models.create(config.model.name, num_classes=num_outputs(config, num_classes),
                          weights=config.model.weights or None, head=head_options(config),
                          reinit_head=config.model.reinit_head, dtype=dtype, seed=config.seed)
    resizer, pyramid = config.model.resizer, config.model.pyramid
    if resizer.enabled:
        options = {k: resizer[k] for k in ("target_size", "filters", "blocks", "cbam", "interpolation")}
        model = with_resizer(model, options, seed=config.seed, dtype=dtype)
    if pyramid.enabled:
        model = Pyramid(model, levels=pyramid.levels, rule=pyramid.rule, weights=pyramid.weights or None,
                        chunk_size=pyramid.chunk_size, per_level_backbone=pyramid.per_level_backbone)
    trainable = freeze.trainable_filter(config.train.freeze, model.stage_names, model=model)
    updates_per_epoch = max(steps_per_epoch // config.optimizer.accumulate_steps, 1)
    base_lr = config.optimizer.learning_rate
    schedule = schedules.make_schedule(config.schedule, base_lr=base_lr, steps_per_epoch=updates_per_epoch,
                                       total_epochs=config.train.epochs)
    plateau = schedules.make_plateau(config.schedule, base_lr=base_lr) if config.schedule.name == "plateau" else None
    optimizer = nnx.Optimizer(model, optim.make_optimizer(config.optimizer, schedule), wrt=trainable)
    if config.train.ema_decay:  # on the optimiser: the train state, checkpoints and restores carry it
        optimizer.ema = ema.ModelEMA(model, decay=config.train.ema_decay, warmup=config.train.ema_warmup,
                                     trainable=trainable)
    return Built(model, optimizer, trainable, plateau)


def split_modes(built: Built, config: ml_collections.ConfigDict) -> tuple[nnx.GraphDef, nnx.GraphDef, nnx.State]:
    """(train graph, eval graph, state): the modes live in the graph, the state is shared."""
    built.model.eval()
    eval_graphdef, _ = nnx.split((built.model, built.optimizer))
    built.model.train()
    freeze.apply_frozen_bn(built.model, config.train.freeze, config.train.frozen_bn)
    train_graphdef, state = nnx.split((built.model, built.optimizer))
    return train_graphdef, eval_graphdef, state
