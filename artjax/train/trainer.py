"""The one place that wires a config into steppable pieces: the model and optimiser state on a
mesh, the jitted train step, and the evaluation of the config's view. The training loop, the
sharding tests and the benchmarks all step models through `make_trainer`."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from flax import nnx
from jax.sharding import Mesh

from artjax.data.augment import make_transform
from artjax.eval import views
from artjax.eval.scoring import EvalPlan
from artjax.models.base import Preprocessing
from artjax.train import freeze, mesh as mesh_lib, schedules, setup, steps

Transform = Callable[[np.ndarray, Any], np.ndarray]


@dataclasses.dataclass
class Trainer:
    mesh: Mesh
    state: Any  # nnx.state((model, optimiser)), replicated over the mesh
    trainable: freeze.Trainable
    preprocessing: Preprocessing
    plateau: schedules.Plateau | None
    total_params: int
    trainable_params: int
    train_transform: Transform  # per image, on the host
    train_step: Callable[[Any, dict[str, jax.Array]], tuple[Any, dict[str, jax.Array]]]
    eval_plan: EvalPlan  # the config's evaluation view: its per-image transform, counts, summary
    eval_step: Callable[[Any, dict[str, jax.Array], dict[str, Any]], dict[str, Any]]
    ema_eval_step: Callable[[Any, dict[str, jax.Array], dict[str, Any]], dict[str, Any]] | None  # train.ema_decay

    @property
    def batch_sharding(self) -> jax.sharding.NamedSharding:
        return mesh_lib.batch_sharding(self.mesh)


def eval_view(config: ml_collections.ConfigDict) -> str:
    """The evaluation view of a run: a pyramid model always sees its pyramid."""
    return "pyramid" if config.model.pyramid.enabled else config.eval.view


def make_trainer(config: ml_collections.ConfigDict, *, num_classes: int, steps_per_epoch: int,
                 class_weights: np.ndarray | None = None, mesh: Mesh | None = None) -> Trainer:
    """Builds the run of `config` for `num_classes` data classes on `mesh` (default: the
    data-parallel mesh for train.batch_size)."""
    mesh = mesh or mesh_lib.make_mesh(config.train.batch_size)
    built = setup.build(config, num_classes=num_classes, steps_per_epoch=steps_per_epoch)
    total = freeze.count_params(built.model, nnx.Param)
    trainable = freeze.count_params(built.model, built.trainable)
    preprocessing = built.model.preprocessing
    train_graphdef, eval_graphdef, state = setup.split_modes(built, config)
    data, pyramid = config.data, config.model.pyramid
    if pyramid.enabled:
        train_transform = views.pyramid_train_transform(data.image_size, tuple(pyramid.levels))
    else:
        train_transform = make_transform(data.augment, image_size=data.image_size, train=True)
    plan = EvalPlan(view=eval_view(config), levels=tuple(pyramid.levels), model_combines=pyramid.enabled,
                    base_transform=make_transform(data.augment, image_size=data.image_size, train=False),
                    image_size=data.image_size, sigmoid=config.loss.kind == "sigmoid", num_classes=num_classes)
    dtype = jnp.dtype(config.model.dtype)
    train_step = steps.make_train_step(train_graphdef, config, trainable=built.trainable,
                                       preprocessing=preprocessing, num_classes=num_classes,
                                       class_weights=class_weights, state_sharding=mesh_lib.replicated(mesh))
    return Trainer(mesh=mesh, state=mesh_lib.replicate(state, mesh), trainable=built.trainable,
                   preprocessing=preprocessing, plateau=built.plateau, total_params=total,
                   trainable_params=trainable, train_transform=train_transform, train_step=train_step,
                   eval_plan=plan, eval_step=plan.make_step(eval_graphdef, preprocessing=preprocessing, dtype=dtype),
                   ema_eval_step=plan.make_step(eval_graphdef, preprocessing=preprocessing, dtype=dtype, ema=True)
                   if config.train.ema_decay else None)
