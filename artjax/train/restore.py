"""Restoring a trained model from a run directory, for evaluation, prediction and reports."""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

import jax
import ml_collections
from flax import nnx

from artjax.config import load_saved_config
from artjax.models import Backbone
from artjax.train import setup
from artjax.train.checkpoint import Checkpoints


@dataclasses.dataclass
class RestoredRun:
    model: Backbone  # in eval mode
    config: ml_collections.ConfigDict
    class_names: list[str]
    step: int
    metrics: dict[str, Any] | None  # validation metrics of that checkpoint


def load_run(workdir: str, *, which: str = "best") -> RestoredRun:
    """The model of `workdir`'s best (by checkpoint.best_metric) or latest checkpoint."""
    if which not in ("best", "latest"):
        raise ValueError(f"which must be 'best' or 'latest', got {which!r}")
    config_path = os.path.join(workdir, "config.json")
    if not os.path.exists(config_path):
        raise FileNotFoundError(f"{workdir} is not an artjax run directory (no config.json)")
    config = load_saved_config(config_path)
    with open(os.path.join(workdir, "classes.json")) as f:
        class_names = json.load(f)["class_names"]
    checkpoints = Checkpoints(os.path.join(workdir, "checkpoints"), keep=config.checkpoint.keep,
                              keep_best=config.checkpoint.keep_best, best_metric=config.checkpoint.best_metric)
    latest = checkpoints.latest_step()
    if latest is None:
        raise FileNotFoundError(f"{workdir} holds no checkpoint yet")
    meta = checkpoints.restore_meta(latest)
    step = meta["best"]["step"] if which == "best" and meta["best"] else latest
    built = setup.build(config, num_classes=len(class_names), steps_per_epoch=1)
    _, eval_graphdef, state = setup.split_modes(built, config)
    # Restore onto this process's first device, whatever topology wrote the checkpoint.
    device = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
    abstract = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=device), state)
    state, step_meta = checkpoints.restore(step, abstract)
    checkpoints.close()
    model, _ = nnx.merge(eval_graphdef, state)
    return RestoredRun(model, config, class_names, step, step_meta["last_eval"])
