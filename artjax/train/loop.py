"""The training loop: input, model + optimiser, resume, epochs, evaluation, checkpoints.

`run` reads top to bottom; each stage is a function below it. Everything a resumed run needs to
continue exactly (model, optimiser, step, RNG, data-iterator position, schedule state) lives in
the checkpoint: the arrays in its state item, the rest (`Progress`) in its JSON item. Re-running
the command on the same workdir resumes, and on a finished run just reports.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import time
from typing import Any

import jax
import ml_collections
import numpy as np
from tqdm import tqdm

from artjax.data import catalog, pipeline, scan
from artjax.data.sources import Source
from artjax.eval import metrics
from artjax.rundir import RunDir
from artjax.train import losses, optim
from artjax.train.checkpoint import Checkpoints
from artjax.train.logs import MetricsLog
from artjax.train.mesh import replicate, to_global
from artjax.train.trainer import Trainer, make_trainer


class NonFiniteLoss(RuntimeError):
    """The loss became NaN or Inf; the last checkpoint is left as it was."""


@dataclasses.dataclass
class Progress:
    """The run's host-side state, saved as each checkpoint's JSON item (its keys are the
    checkpoint format: runs written by earlier versions restore into it)."""

    class_names: list[str]
    preprocessing: dict[str, Any]
    trainable_params: int
    total_params: int
    epoch: int = 0  # epochs completed
    iterator: dict[str, Any] | None = None  # grain iterator state, for a mid-epoch checkpoint
    best: dict[str, Any] | None = None  # {"step", "epoch", "metrics"} of the best evaluation
    last_eval: dict[str, Any] | None = None  # the last validation metrics
    stale_evals: int = 0  # evaluations since the best one (early stopping)
    plateau: dict[str, Any] | None = None  # ReduceLROnPlateau state

    def to_meta(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_meta(cls, meta: dict[str, Any]) -> Progress:
        return cls(**{field.name: meta[field.name] for field in dataclasses.fields(cls)})


@dataclasses.dataclass
class RunResult:
    step: int
    epoch: int
    final: dict[str, Any]  # the last validation metrics
    best: dict[str, Any]  # the best validation metrics by checkpoint.best_metric
    best_epoch: int | None
    trainable_params: int
    total_params: int
    resumed_from: int | None

    @property
    def trained(self) -> bool:
        """Whether this invocation took any step (False: it found the run finished)."""
        return self.step != self.resumed_from

    @classmethod
    def of(cls, step: int, progress: Progress, resumed_from: int | None) -> RunResult:
        best = progress.best or {}
        return cls(step, progress.epoch, progress.last_eval, best.get("metrics", {}), best.get("epoch"),
                   progress.trainable_params, progress.total_params, resumed_from)


@dataclasses.dataclass
class Data:
    """The run's input: sources, class names and batch arithmetic."""

    train: Source
    val: Source
    class_names: list[str]
    steps_per_epoch: int
    local_batch: int  # this process's share of train.batch_size
    eval_batch: int  # this process's share of the evaluation batch
    bad: pipeline.BadRecords  # unreadable records met so far
    options: pipeline.PipelineOptions


def _say(*args: Any) -> None:
    """User-facing lines come from process 0 only."""
    if jax.process_index() == 0:
        print(*args)


def run(config: ml_collections.ConfigDict, workdir: str) -> RunResult:
    """Trains (or resumes, or reports a finished run) in `workdir`."""
    run_dir = RunDir(workdir)
    os.makedirs(workdir, exist_ok=True)
    _check_same_run(config, run_dir)
    checkpoints = Checkpoints.for_run(run_dir, config)
    try:
        resumed_from = checkpoints.latest_step()
        if resumed_from is not None:
            saved = Progress.from_meta(checkpoints.restore_meta(resumed_from))
            if saved.epoch >= config.train.epochs:  # finished: report without building anything
                _say(f"run in {workdir} is finished (step {resumed_from}, epoch {saved.epoch}); final metrics:")
                _say(_format_metrics(saved.last_eval))
                return RunResult.of(resumed_from, saved, resumed_from)
        data = open_data(config)
        trainer = make_trainer(config, num_classes=len(data.class_names), steps_per_epoch=data.steps_per_epoch,
                               class_weights=_class_weights(config, data))
        _say(f"{config.model.name}: {trainer.total_params:,} parameters, {trainer.trainable_params:,} trainable")
        log = MetricsLog(run_dir, enabled=jax.process_index() == 0)
        try:
            state, progress = _start(config, data, trainer, checkpoints, log, resumed_from)
            if jax.process_index() == 0:
                _save_run_info(run_dir, config, progress)
            step, progress = _train(config, data, trainer, state, progress, checkpoints, log, resumed_from or 0)
        finally:
            log.close()
    finally:
        checkpoints.close()
    if data.bad.reasons:
        _say(f"skipped {len(data.bad.reasons)} unreadable image(s) (listed in the log above)")
    return RunResult.of(step, progress, resumed_from)


# --- Input ----------------------------------------------------------------------------------------

def open_data(config: ml_collections.ConfigDict) -> Data:
    """The sources of `config.data`, checked against the model and the batch size."""
    train_source, val_source = catalog.open_sources(config.data)
    class_names = list(train_source.class_names)
    if config.model.num_classes and config.model.num_classes != len(class_names):
        raise ValueError(f"model.num_classes is {config.model.num_classes} but the data has "
                         f"{len(class_names)} classes")
    if config.data.strict:  # the whole list before any training, rather than a stop mid-epoch
        unreadable = [reason for source in (train_source, val_source)
                      for _, reason in scan.scan_source(source, threads=4).bad]
        if unreadable:
            raise pipeline.UnreadableImages(f"{len(unreadable)} unreadable image(s) and data.strict=True:\n  "
                                            + "\n  ".join(unreadable))
    global_batch, processes = config.train.batch_size, jax.process_count()
    steps_per_epoch = len(train_source) // global_batch
    if steps_per_epoch == 0:
        raise ValueError(f"train.batch_size {global_batch} exceeds the {len(train_source)} training examples")
    return Data(train=train_source, val=val_source, class_names=class_names, steps_per_epoch=steps_per_epoch,
                local_batch=global_batch // processes,
                eval_batch=(config.eval.batch_size or global_batch) // processes,
                bad=pipeline.BadRecords(strict=config.data.strict),
                options=pipeline.PipelineOptions(workers=config.data.workers, errors=catalog.READ_ERRORS))


def _class_weights(config: ml_collections.ConfigDict, data: Data) -> np.ndarray | None:
    if config.loss.class_weighting == "none":
        return None
    counts = np.bincount(data.train.labels(), minlength=len(data.class_names))
    return losses.class_weights(counts, config.loss.class_weighting, beta=config.loss.beta)


# --- Start or resume ------------------------------------------------------------------------------

def _start(config: ml_collections.ConfigDict, data: Data, trainer: Trainer, checkpoints: Checkpoints,
           log: MetricsLog, resumed_from: int | None) -> tuple[Any, Progress]:
    """The state to train from: fresh, or the latest checkpoint's (restored onto the mesh)."""
    plateau = trainer.plateau
    progress = Progress(class_names=data.class_names, preprocessing=trainer.preprocessing.to_dict(),
                        trainable_params=trainer.trainable_params, total_params=trainer.total_params,
                        plateau=plateau.state_dict() if plateau else None)
    if resumed_from is None:
        return trainer.state, progress
    state, meta = checkpoints.restore(resumed_from, jax.tree.map(_abstract, trainer.state))
    progress = Progress.from_meta(meta)
    log.truncate_after(resumed_from)
    if plateau:
        plateau.load_state_dict(progress.plateau)
    _say(f"resuming from checkpoint at step {resumed_from} (epoch {progress.epoch + 1}/{config.train.epochs})")
    return state, progress


def _abstract(x: Any) -> Any:
    return jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding) if isinstance(x, jax.Array) else x


# --- Epochs ---------------------------------------------------------------------------------------

def _train(config: ml_collections.ConfigDict, data: Data, trainer: Trainer, state: Any, progress: Progress,
           checkpoints: Checkpoints, log: MetricsLog, step: int) -> tuple[int, Progress]:
    """Epochs from `progress.epoch` to the end (or an early stop); returns (step, progress)."""
    for epoch in range(progress.epoch, config.train.epochs):
        state, step = _train_epoch(config, data, trainer, state, progress, checkpoints, log, epoch, step)
        progress = dataclasses.replace(progress, epoch=epoch + 1, iterator=None)
        evaluated = (epoch + 1) % config.eval.every_epochs == 0 or epoch + 1 == config.train.epochs
        if evaluated:
            state, progress = _evaluate_epoch(config, data, trainer, state, progress, log, step)
        patience = config.train.early_stop_patience
        if patience and progress.stale_evals >= patience:
            progress.epoch = config.train.epochs  # a later run on this workdir reports it as finished
            _say(f"early stop: no better {config.checkpoint.best_metric} in {patience} evaluations")
        checkpoints.save(step, state, progress.to_meta(), metrics=_scalars(progress.last_eval) if evaluated else None)
        if progress.epoch >= config.train.epochs:
            break
    return step, progress


def _train_epoch(config: ml_collections.ConfigDict, data: Data, trainer: Trainer, state: Any, progress: Progress,
                 checkpoints: Checkpoints, log: MetricsLog, epoch: int, step: int) -> tuple[Any, int]:
    """One epoch of train steps (from a mid-epoch position when resuming); mid-epoch checkpoints
    every checkpoint.every_steps; returns (state, step)."""
    batches = pipeline.train_batches(data.train, epoch=epoch, batch_size=data.local_batch,
                                     transform=trainer.train_transform, seed=config.seed, bad=data.bad,
                                     options=data.options, process_index=jax.process_index(),
                                     process_count=jax.process_count())
    if progress.iterator is not None:
        batches.set_state(progress.iterator)
    end = (epoch + 1) * data.steps_per_epoch
    every = config.checkpoint.every_steps
    bar = tqdm(total=data.steps_per_epoch, initial=step - epoch * data.steps_per_epoch,
               disable=jax.process_index() != 0, desc=f"epoch {epoch + 1}/{config.train.epochs}", unit="step",
               dynamic_ncols=True, mininterval=1 if sys.stderr.isatty() else 30, file=sys.stderr)
    pending: list[jax.Array] = []  # losses since the last host sync
    tick, tick_step = time.perf_counter(), step
    for batch in batches:
        state, out = trainer.train_step(state, to_global(batch, trainer.batch_sharding))
        pending.append(out["loss"])
        step += 1
        bar.update(1)
        save_now = every and step % every == 0
        if len(pending) == config.train.log_every_steps or step == end or save_now:
            recent = _check_finite(pending, step)
            rate = (step - tick_step) * config.train.batch_size / (time.perf_counter() - tick)
            lr = optim.get_lr(state)
            bar.set_postfix(loss=f"{recent[-1]:.4f}", img_s=f"{rate:.1f}", lr=f"{lr:.3g}")
            log.write("train", step, {"epoch": epoch + 1, "loss": float(np.mean(recent)), "lr": lr,
                                      "images_per_sec": rate})
            pending, tick, tick_step = [], time.perf_counter(), step
        if step == end:
            break
        if save_now:
            meta = dataclasses.replace(progress, epoch=epoch, iterator=batches.get_state()).to_meta()
            checkpoints.save(step, state, meta)
    bar.close()
    if step != end:
        raise pipeline.UnreadableImages(f"epoch {epoch + 1} ran out of readable training images after "
                                        f"{len(data.bad.reasons)} unreadable ones; run `python -m artjax.data` "
                                        "on this config to list them")
    return state, step


def _check_finite(pending: list[jax.Array], step: int) -> np.ndarray:
    losses_ = np.asarray(jax.device_get(pending), np.float64)
    if not np.all(np.isfinite(losses_)):
        first = step - len(losses_) + int(np.argmin(np.isfinite(losses_))) + 1
        raise NonFiniteLoss(f"loss is {losses_[~np.isfinite(losses_)][0]} at step {first}; stopped without "
                            "saving, the last checkpoint is intact (try a lower optimizer.learning_rate)")
    return losses_


# --- Evaluation -----------------------------------------------------------------------------------

def evaluate(data: Data, trainer: Trainer, state: Any) -> dict[str, Any]:
    """The validation metrics of `state` through the run's evaluation view."""
    plan = trainer.eval_plan
    counts = replicate(plan.init_counts(), trainer.mesh)
    for batch in pipeline.eval_batches(data.val, batch_size=data.eval_batch, transform=plan.transform, bad=data.bad,
                                       options=data.options, process_index=jax.process_index(),
                                       process_count=jax.process_count()):
        counts = trainer.eval_step(state, to_global(batch, trainer.batch_sharding), counts)
    return plan.summarize(jax.device_get(counts), data.class_names)


def _evaluate_epoch(config: ml_collections.ConfigDict, data: Data, trainer: Trainer, state: Any,
                    progress: Progress, log: MetricsLog, step: int) -> tuple[Any, Progress]:
    """Evaluates, logs, tracks the best result and feeds the plateau schedule."""
    result = evaluate(data, trainer, state)
    log.write("val", step, {"epoch": progress.epoch, **result})
    progress.last_eval = result
    metric = config.checkpoint.best_metric
    if progress.best is None or metrics.is_better(metric, result[metric], progress.best["metrics"][metric]):
        progress.best = {"step": step, "epoch": progress.epoch, "metrics": result}
        progress.stale_evals = 0
    else:
        progress.stale_evals += 1
    if trainer.plateau:
        state = optim.set_lr_scale(state, trainer.plateau.step(result[config.schedule.metric]))
        progress.plateau = trainer.plateau.state_dict()
    _say(f"epoch {progress.epoch}/{config.train.epochs}: {_format_metrics(result)}")
    return state, progress


def _scalars(result: dict[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in result.items() if isinstance(v, (int, float))}


_SHOWN = ("loss", "accuracy", "top5_accuracy", "macro_f1", "voted_accuracy", "voted_macro_f1")


def _format_metrics(result: dict[str, Any]) -> str:
    return ", ".join(f"{k}={result[k]:.4f}" for k in _SHOWN if k in result)


# --- Run files ------------------------------------------------------------------------------------

_RUN_IDENTITY = ("model.name", "model.num_classes", "model.head", "data.source", "data.image_size")


def _check_same_run(config: ml_collections.ConfigDict, run_dir: RunDir) -> None:
    """Refuses to resume a workdir written by a run with another model or data."""
    saved = run_dir.read_config_json()
    if saved is None:
        return
    current = json.loads(config.to_json_best_effort())
    for key in _RUN_IDENTITY:
        section, name = key.split(".")
        if saved[section][name] != current[section][name]:
            raise ValueError(f"workdir {run_dir.path} holds a run with {key}={saved[section][name]!r}, not "
                             f"{current[section][name]!r}; use another --workdir")


def _save_run_info(run_dir: RunDir, config: ml_collections.ConfigDict, progress: Progress) -> None:
    run_dir.write_config(config.to_json_best_effort(indent=2))
    run_dir.write_classes(progress.class_names, progress.preprocessing)
