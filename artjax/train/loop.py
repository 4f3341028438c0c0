"""The training loop: input, model + optimiser, resume, epochs, evaluation, checkpoints.

`run` reads top to bottom; each stage is a function below it. Everything a resumed run needs to
continue exactly (model, optimiser, step, RNG, data-iterator position, schedule state) lives in
the checkpoint: the arrays in its state item, the rest (`Progress`) in its JSON item. Re-running
the command on the same workdir resumes, and on a finished run just reports.

What protects a run: the workdir lock (one process trains in a directory), the run identity
(a resume must see the same model, classes and data, or it stops naming each difference),
damaged checkpoints skipped for the newest intact one, SIGTERM / SIGINT saving before they stop
(interrupt.py), and a NaN loss stopping before anything is saved.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import sys
import time
from typing import Any

import jax
import ml_collections
import numpy as np
from tqdm import tqdm

from artjax import runtime
from artjax.data import catalog, integrity, pipeline, scan
from artjax.data.sources import Source, wikiart
from artjax.eval import metrics
from artjax.rundir import RunDir
from artjax.train import ema, losses, optim
from artjax.train.checkpoint import Checkpoints, first_line
from artjax.train.interrupt import Interrupted, StopRequests
from artjax.train.logs import MetricsLog
from artjax.train.mesh import replicate, to_global
from artjax.train.trainer import Trainer, make_trainer


class NonFiniteLoss(RuntimeError):
    """The loss became NaN or Inf; the last checkpoint is left as it was."""


class NotTheSameRun(ValueError):
    """The workdir holds a run this config cannot resume (another model, classes or data)."""


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
    selection: dict[str, Any] | None = None  # the classes data.top_classes kept, with their counts


def _say(*args: Any) -> None:
    """User-facing lines come from process 0 only."""
    if jax.process_index() == 0:
        print(*args)


def run(config: ml_collections.ConfigDict, workdir: str) -> RunResult:
    """Trains (or resumes, or reports a finished run) in `workdir`."""
    runtime.configure_compilation_cache(config.compile_cache)
    run_dir = RunDir(workdir)
    # One process trains in a workdir; on several hosts, process 0 holds the lock for all.
    with run_dir.lock() if jax.process_index() == 0 else contextlib.nullcontext(), StopRequests() as stop:
        checkpoints = Checkpoints.for_run(run_dir, config, training=True)
        try:
            return _run(config, run_dir, checkpoints, stop)
        finally:
            checkpoints.close()


def _run(config: ml_collections.ConfigDict, run_dir: RunDir, checkpoints: Checkpoints,
         stop: StopRequests) -> RunResult:
    had_checkpoints = checkpoints.latest_step() is not None
    resumed_from = checkpoints.newest_intact(quarantine=run_dir.corrupt)
    if had_checkpoints and resumed_from is None:  # never start over silently on top of a run
        raise FileNotFoundError(f"every checkpoint of {run_dir.path} is damaged (moved to {run_dir.corrupt}); "
                                "rerun the command to train from the start")
    identity = _config_identity(config)
    if resumed_from is not None:
        _check_same_run(run_dir, identity)
        saved = Progress.from_meta(checkpoints.restore_meta(resumed_from))
        if saved.epoch >= config.train.epochs:  # finished: report without building anything
            _say(f"run in {run_dir.path} is finished (step {resumed_from}, epoch {saved.epoch}); final metrics:")
            _say(_format_metrics(saved.last_eval))
            return RunResult.of(resumed_from, saved, resumed_from)
    data = open_data(config)
    identity.update(_data_identity(data))
    if resumed_from is not None:
        _check_same_run(run_dir, _data_identity(data))
    trainer = make_trainer(config, num_classes=len(data.class_names), steps_per_epoch=data.steps_per_epoch,
                           class_weights=_class_weights(config, data))
    _say(f"{config.model.name}: {trainer.total_params:,} parameters, {trainer.trainable_params:,} trainable")
    log = MetricsLog(run_dir, enabled=jax.process_index() == 0)
    if jax.process_index() == 0:  # once there is a checkpoint they describe, never before
        checkpoints.after_first_save = functools.partial(_save_run_info, run_dir, config, data, trainer, identity)
    try:
        state, progress = _start(config, data, trainer, checkpoints, log, resumed_from, run_dir)
        step, progress = _train(config, data, trainer, state, progress, checkpoints, log, resumed_from or 0, stop)
    finally:
        log.close()
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
    selection = catalog.class_selection(train_source, val_source)
    if selection is not None:
        _say(wikiart.describe_selection(selection))
    return Data(train=train_source, val=val_source, class_names=class_names, steps_per_epoch=steps_per_epoch,
                local_batch=global_batch // processes,
                eval_batch=(config.eval.batch_size or global_batch) // processes,
                bad=pipeline.BadRecords(strict=config.data.strict),
                options=pipeline.PipelineOptions(workers=config.data.workers, errors=catalog.READ_ERRORS),
                selection=selection)


def _class_weights(config: ml_collections.ConfigDict, data: Data) -> np.ndarray | None:
    if config.loss.class_weighting == "none":
        return None
    counts = np.bincount(data.train.labels(), minlength=len(data.class_names))
    return losses.class_weights(counts, config.loss.class_weighting, beta=config.loss.beta)


# --- Start or resume ------------------------------------------------------------------------------

def _start(config: ml_collections.ConfigDict, data: Data, trainer: Trainer, checkpoints: Checkpoints,
           log: MetricsLog, resumed_from: int | None, run_dir: RunDir) -> tuple[Any, Progress]:
    """The state to train from: fresh, or the latest checkpoint's (restored onto the mesh)."""
    plateau = trainer.plateau
    progress = Progress(class_names=data.class_names, preprocessing=trainer.preprocessing.to_dict(),
                        trainable_params=trainer.trainable_params, total_params=trainer.total_params,
                        plateau=plateau.state_dict() if plateau else None)
    if resumed_from is None:
        log.truncate_after(0)  # rows of an attempt killed before its first checkpoint
        return trainer.state, progress
    try:
        state, meta = checkpoints.restore(resumed_from, jax.tree.map(_abstract, trainer.state))
    except Exception as error:  # the checkpoint reads whole (newest_intact): its tree is another one
        changed = _config_changes(run_dir, config) or ["(no config key differs from config.json)"]
        raise NotTheSameRun(f"the checkpoint at step {resumed_from} in {run_dir.path} does not fit the model and "
                            f"optimiser this config builds ({first_line(error)[:120]}); config keys changed since "
                            "the run started:\n  " + "\n  ".join(changed)) from None
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
           checkpoints: Checkpoints, log: MetricsLog, step: int, stop: StopRequests) -> tuple[int, Progress]:
    """Epochs from `progress.epoch` to the end (or an early stop); returns (step, progress)."""
    for epoch in range(progress.epoch, config.train.epochs):
        state, step = _train_epoch(config, data, trainer, state, progress, checkpoints, log, epoch, step, stop)
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
        if _stop_now(stop, step, every=1):  # a signal during the evaluation: the epoch is saved
            raise Interrupted(step, stop.signum)
    return step, progress


def _train_epoch(config: ml_collections.ConfigDict, data: Data, trainer: Trainer, state: Any, progress: Progress,
                 checkpoints: Checkpoints, log: MetricsLog, epoch: int, step: int,
                 stop: StopRequests) -> tuple[Any, int]:
    """One epoch of train steps (from a mid-epoch position when resuming); mid-epoch checkpoints
    every checkpoint.every_steps and when a stop is requested; returns (state, step)."""
    batches = pipeline.train_batches(data.train, epoch=epoch, batch_size=data.local_batch,
                                     transform=trainer.train_transform, seed=config.seed, bad=data.bad,
                                     options=data.options, process_index=jax.process_index(),
                                     process_count=jax.process_count())
    if progress.iterator is not None:
        try:
            batches.set_state(progress.iterator)
        except (KeyError, IndexError, TypeError, ValueError):  # grain's state layout follows the worker count
            batches.close()
            raise NotTheSameRun(f"the checkpoint at step {step} was saved in the middle of an epoch by a pipeline "
                                f"with another data.workers than {config.data.workers}; resume with the value it "
                                "was saved with (the run's config.json records it)") from None
    bar = tqdm(total=data.steps_per_epoch, initial=step - epoch * data.steps_per_epoch,
               disable=jax.process_index() != 0, desc=f"epoch {epoch + 1}/{config.train.epochs}", unit="step",
               dynamic_ncols=True, mininterval=1 if sys.stderr.isatty() else 30, file=sys.stderr)
    try:
        state, step = _steps(config, data, trainer, state, progress, checkpoints, log, epoch, step, stop, batches, bar)
    finally:
        bar.close()
        batches.close()  # worker processes end with the epoch, also when it is cut short
    if step != (epoch + 1) * data.steps_per_epoch:
        raise pipeline.UnreadableImages(f"epoch {epoch + 1} ran out of readable training images after "
                                        f"{len(data.bad.reasons)} unreadable ones; run `python -m artjax.data` "
                                        "on this config to list them")
    return state, step


def _steps(config: ml_collections.ConfigDict, data: Data, trainer: Trainer, state: Any, progress: Progress,
           checkpoints: Checkpoints, log: MetricsLog, epoch: int, step: int, stop: StopRequests,
           batches: Any, bar: tqdm) -> tuple[Any, int]:
    """The train steps of one epoch's `batches`; returns (state, step)."""
    end = (epoch + 1) * data.steps_per_epoch
    every = config.checkpoint.every_steps
    pending: list[dict[str, jax.Array]] = []  # step outputs since the last host sync
    tick, tick_step = time.perf_counter(), step
    for batch in batches:
        state, out = trainer.train_step(state, to_global(batch, trainer.batch_sharding))
        pending.append(out)
        step += 1
        bar.update(1)
        stopping = _stop_now(stop, step, every=config.train.log_every_steps)
        save_now = (every and step % every == 0) or stopping
        if len(pending) == config.train.log_every_steps or step == end or save_now:
            recent = _check_finite([out["loss"] for out in pending], step, checkpoints)
            accuracy = float(np.mean(jax.device_get([out["accuracy"] for out in pending])))
            rate = (step - tick_step) * config.train.batch_size / (time.perf_counter() - tick)
            lr = optim.get_lr(state)
            bar.set_postfix(loss=f"{recent[-1]:.4f}", img_s=f"{rate:.1f}", lr=f"{lr:.3g}")
            log.write("train", step, {"epoch": epoch + 1, "loss": float(np.mean(recent)), "accuracy": accuracy,
                                      "lr": lr, "images_per_sec": rate})
            pending, tick, tick_step = [], time.perf_counter(), step
        if step == end:
            break  # a stop requested now waits for the epoch's evaluation and checkpoint (_train)
        if save_now:
            meta = dataclasses.replace(progress, epoch=epoch, iterator=batches.get_state()).to_meta()
            checkpoints.save(step, state, meta)
        if stopping:
            raise Interrupted(step, stop.signum)
    return state, step


def _stop_now(stop: StopRequests, step: int, *, every: int) -> bool:
    """Whether to stop after `step`. Hosts must agree (a checkpoint save is collective), so with
    several processes they share their flags every `every` steps; one process decides alone."""
    if jax.process_count() == 1:
        return stop.requested
    if step % every:
        return False
    from jax.experimental import multihost_utils

    return bool(np.any(multihost_utils.process_allgather(np.int32(stop.requested))))


def _check_finite(pending: list[jax.Array], step: int, checkpoints: Checkpoints) -> np.ndarray:
    losses_ = np.asarray(jax.device_get(pending), np.float64)
    if not np.all(np.isfinite(losses_)):
        first = step - len(losses_) + int(np.argmin(np.isfinite(losses_))) + 1
        last = checkpoints.latest_step()
        kept = f"the checkpoint at step {last} is intact" if last is not None else "no checkpoint was saved yet"
        raise NonFiniteLoss(f"loss is {losses_[~np.isfinite(losses_)][0]} at step {first}; stopped without "
                            f"saving, {kept} (try a lower optimizer.learning_rate)")
    return losses_


# --- Evaluation -----------------------------------------------------------------------------------

def evaluate(data: Data, trainer: Trainer, state: Any) -> dict[str, Any]:
    """The validation metrics of `state` through the run's evaluation view; with EMA weights,
    their scalar metrics too, prefixed ema_ (ema_accuracy, ema_macro_f1, ema_loss, ...)."""
    result = _evaluate_with(trainer.eval_step, data, trainer, state)
    if trainer.ema_eval_step is not None:
        averaged = _evaluate_with(trainer.ema_eval_step, data, trainer, state)
        result.update({ema.PREFIX + k: v for k, v in _scalars(averaged).items()})
    return result


def _evaluate_with(eval_step: Any, data: Data, trainer: Trainer, state: Any) -> dict[str, Any]:
    plan = trainer.eval_plan
    counts = replicate(plan.init_counts(), trainer.mesh)
    for batch in pipeline.eval_batches(data.val, batch_size=data.eval_batch, transform=plan.transform, bad=data.bad,
                                       options=data.options, process_index=jax.process_index(),
                                       process_count=jax.process_count()):
        counts = eval_step(state, to_global(batch, trainer.batch_sharding), counts)
    return plan.summarize(jax.device_get(counts), data.class_names)


def _evaluate_epoch(config: ml_collections.ConfigDict, data: Data, trainer: Trainer, state: Any,
                    progress: Progress, log: MetricsLog, step: int) -> tuple[Any, Progress]:
    """Evaluates, logs, tracks the best result and feeds the plateau schedule."""
    result = evaluate(data, trainer, state)
    log.write("val", step, {"epoch": progress.epoch, **result})
    progress.last_eval = result
    metric = config.checkpoint.best_metric
    if progress.best is None or metrics.is_better(metric, result[metric], progress.best["metrics"][metric]):
        progress.best = {"step": step, "epoch": progress.epoch, "metrics": result,
                         "weights": ema.weights_for(metric, config.checkpoint.weights)}
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


_SHOWN = ("loss", "accuracy", "top5_accuracy", "macro_f1", "voted_accuracy", "voted_macro_f1", "ema_loss",
          "ema_accuracy", "ema_macro_f1")


def _format_metrics(result: dict[str, Any]) -> str:
    return ", ".join(f"{k}={result[k]:.4f}" for k in _SHOWN if k in result)


# --- Run files ------------------------------------------------------------------------------------

# Config keys that fix the state tree or the order of the batches: a resume must keep them.
IDENTITY_KEYS = ("model.name", "model.head", "model.pyramid", "model.resizer", "data.source", "data.image_size",
                 "train.freeze", "train.batch_size", "optimizer.name", "seed", "train.ema_decay", "train.ema_warmup")


def _config_identity(config: ml_collections.ConfigDict) -> dict[str, Any]:
    tree = json.loads(config.to_json_best_effort())
    return {"config": {key: _lookup(tree, key) for key in IDENTITY_KEYS}}


def _data_identity(data: Data) -> dict[str, Any]:
    return {"class_names": list(data.class_names),
            "data": {"train": integrity.fingerprint(data.train), "val": integrity.fingerprint(data.val)}}


def _lookup(tree: dict[str, Any], key: str) -> Any:
    for part in key.split("."):
        tree = tree[part]
    return tree


def _saved_identity(run_dir: RunDir) -> dict[str, Any]:
    """DIR/identity.json; for a run written before it existed, what its config and classes hold."""
    saved = run_dir.read_identity()
    if saved is not None:
        return saved
    old = run_dir.read_config_json()
    if old is None:
        return {}
    config = {}
    for key in IDENTITY_KEYS:
        try:
            config[key] = _lookup(old, key)
        except KeyError:
            continue
    return {"config": config, "class_names": run_dir.read_classes()[0]}


def _differences(saved: Any, current: Any, name: str) -> list[str]:
    if isinstance(saved, dict) and isinstance(current, dict):
        return [line for key in sorted(set(saved) | set(current))
                for line in _differences(saved.get(key), current.get(key), f"{name}.{key}" if name else key)]
    if isinstance(saved, list) and isinstance(current, list) and name == "class_names":
        saved, current = ", ".join(saved), ", ".join(current)
    return [] if saved == current else [f"{name}: the run has {saved!r}, this config {current!r}"]


def _recorded_part(current: Any, saved: Any) -> Any:
    """`current` cut down to the keys `saved` holds, at every depth: a run written before a key
    existed (model.pyramid.per_level_backbone, ...) is not refused for lacking it; where the key
    changes the model, the restore refuses it, naming the key."""
    if isinstance(current, dict) and isinstance(saved, dict):
        return {k: _recorded_part(v, saved[k]) for k, v in current.items() if k in saved}
    return current


def _check_same_run(run_dir: RunDir, current: dict[str, Any]) -> None:
    """Refuses to resume a run whose saved identity differs from `current` in any part both
    have (its config keys, or its classes and data): one line per difference."""
    saved = _saved_identity(run_dir)
    changed = []
    for part, value in current.items():
        if part in saved:
            known = saved[part]
            if part == "config":  # an older run may lack a key: only compare what it recorded
                value = _recorded_part(value, known)
            changed += _differences(known, value, "" if part == "config" else part)
    if changed:
        raise NotTheSameRun(f"{run_dir.path} holds a run this config cannot resume; use another --workdir or "
                            "the run's own config and data:\n  " + "\n  ".join(changed))


def _config_changes(run_dir: RunDir, config: ml_collections.ConfigDict) -> list[str]:
    saved = run_dir.read_config_json()
    return [] if saved is None else _differences(saved, json.loads(config.to_json_best_effort()), "")


def _save_run_info(run_dir: RunDir, config: ml_collections.ConfigDict, data: Data, trainer: Trainer,
                   identity: dict[str, Any]) -> None:
    run_dir.write_config(config.to_json_best_effort(indent=2))
    run_dir.write_classes(data.class_names, trainer.preprocessing.to_dict())
    run_dir.write_identity(identity)
    if data.selection is not None:
        run_dir.write_class_selection(data.selection)
