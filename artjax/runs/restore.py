"""Restoring a trained model from a run directory, for evaluation, prediction, reports and figures."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
from absl import logging
from flax import nnx

from artjax import runtime
from artjax.config import load_saved_config
from artjax.data.augment import make_transform
from artjax.eval.inference import Classifier
from artjax.rundir import RunDir
from artjax.train import ema, setup
from artjax.train.checkpoint import Checkpoints

WHICH = ("best", "latest")
_SELECTED = {"best": "best", "last": "latest"}  # checkpoint.select -> WHICH


def selected(config: ml_collections.ConfigDict) -> str:
    """The checkpoint (a WHICH) that `checkpoint.select` names for a run's end-of-run work."""
    return _SELECTED[config.checkpoint.select]


@dataclasses.dataclass
class RestoredRun:
    model: nnx.Module  # a Backbone or a wrapper (pyramid, Resizer), in eval mode
    config: ml_collections.ConfigDict
    class_names: list[str]
    step: int
    metrics: dict[str, Any] | None  # validation metrics of that checkpoint
    which: str | None = None  # the WHICH it was restored as; None when a step was asked for
    weights: str = "raw"  # 'ema': the model holds the checkpoint's moving average of the weights

    @property
    def checkpoint_name(self) -> str:
        """'best checkpoint, step 12' ('..., EMA weights'), for messages and reports."""
        averaged = ", EMA weights" if self.weights == "ema" else ""
        return f"{self.which or 'chosen'} checkpoint, step {self.step}{averaged}"

    @property
    def eval_view(self) -> str:
        """The view the run's evaluation sees validation images through (a pyramid model's: its pyramid)."""
        return "pyramid" if hasattr(self.model, "levels") else self.config.eval.view

    def eval_transform(self) -> Callable:
        """The run's per-image evaluation transform (deterministic)."""
        data = self.config.data
        return make_transform(data.augment, image_size=data.image_size, train=False)

    def prepare(self) -> Callable[[jax.Array], jax.Array]:
        """uint8 images -> the model's input (its preprocessing, in the run's dtype)."""
        return functools.partial(self.model.preprocessing.normalize, dtype=jnp.dtype(self.config.model.dtype))

    def classifier(self, *, batch_size: int, temperature: float = 1.0, embed: bool = False) -> Classifier:
        return Classifier(self.model, prepare=self.prepare(), sigmoid=self.config.loss.kind == "sigmoid",
                          batch_size=batch_size, temperature=temperature, embed=embed)


def load_run(workdir: str, *, which: str | None = "best", step: int | None = None) -> RestoredRun:
    """The model of `workdir`'s checkpoint at `step`, or else its best (by checkpoint.best_metric)
    or latest one (which=None: the one the run's checkpoint.select names). Damaged checkpoints
    are skipped with a warning for the newest intact one; a damaged `step` is an error.
    The model holds the EMA weights when checkpoint.weights says so ('auto': when the best
    checkpoint was chosen by an ema_ metric), else the raw ones."""
    if which is not None and which not in WHICH:
        raise ValueError(f"which must be one of {', '.join(WHICH)}, got {which!r}")
    run_dir = RunDir(workdir)
    if run_dir.read_config_json() is None:
        raise FileNotFoundError(f"{workdir} is not an artjax run directory (no config.json)")
    config = load_saved_config(run_dir.config)
    runtime.configure_compilation_cache(config.compile_cache)
    which = which or selected(config)
    class_names, _ = run_dir.read_classes()
    checkpoints = Checkpoints.for_run(run_dir, config)
    try:
        chosen = _choose(checkpoints, workdir, which, step)
        built = setup.build(config, num_classes=len(class_names), steps_per_epoch=1)
        _, eval_graphdef, state = setup.split_modes(built, config)
        # Restore onto this process's first device, whatever topology wrote the checkpoint.
        device = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
        abstract = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=device), state)
        state, step_meta = checkpoints.restore(chosen, abstract)
    finally:
        checkpoints.close()
    model, optimizer = nnx.merge(eval_graphdef, state)
    weights = ema.weights_for(config.checkpoint.best_metric, config.checkpoint.weights) if config.train.ema_decay \
        else "raw"
    if weights == "ema":
        optimizer.ema.copy_to(model)
    return RestoredRun(model, config, class_names, chosen, step_meta["last_eval"], which if step is None else None,
                       weights)


def _choose(checkpoints: Checkpoints, workdir: str, which: str, step: int | None) -> int:
    """The step to restore: `step` if given (it must read whole), else the best or the newest
    intact one."""
    steps = checkpoints.steps()
    if step is not None:
        if step not in steps:
            raise FileNotFoundError(f"{workdir} has no checkpoint at step {step} (it has {steps or 'none'})")
        reason = checkpoints.damage(step)
        if reason is not None:
            raise ValueError(f"the checkpoint at step {step} of {workdir} is damaged: {reason}")
        return step
    latest = checkpoints.newest_intact()
    if latest is None:
        raise FileNotFoundError(f"{workdir} holds no checkpoint yet" if not steps else
                                f"every checkpoint of {workdir} is damaged (steps {steps})")
    best = checkpoints.restore_meta(latest)["best"]
    if which == "latest" or not best or best["step"] == latest:
        return latest
    if best["step"] not in steps:
        problem = "not kept"
    else:
        reason = checkpoints.damage(best["step"])
        if reason is None:
            return best["step"]
        problem = f"damaged ({reason})"
    logging.warning("the best checkpoint of %s (step %d) is %s; using the newest intact one, step %d",
                    workdir, best["step"], problem, latest)
    return latest
