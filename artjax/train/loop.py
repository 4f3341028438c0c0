"""The training loop: mesh, input, model + optimiser, checkpoints, steps, evaluation.

Reads top to bottom in labelled sections. Everything a resumed run needs to continue exactly
(model, optimiser, step, RNG, data-iterator position, schedule state) lives in the checkpoint;
re-running the command on the same workdir resumes, and on a finished run just reports.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import time
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from flax import nnx
from tqdm import tqdm

from artjax.data import catalog, pipeline, scan
from artjax.data.augment import make_transform
from artjax.data.multiview import MultiCrop
from artjax.eval import metrics
from artjax.train import freeze, losses, mesh as mesh_lib, optim, setup, steps
from artjax.train.checkpoint import Checkpoints
from artjax.train.logs import MetricsLog


class NonFiniteLoss(RuntimeError):
    """The loss became NaN or Inf; the last checkpoint is left as it was."""


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

    @classmethod
    def from_meta(cls, step: int, meta: dict[str, Any], resumed_from: int | None) -> RunResult:
        best = meta["best"] or {}
        return cls(step, meta["epoch"], meta["last_eval"], best.get("metrics", {}), best.get("epoch"),
                   meta["trainable_params"], meta["total_params"], resumed_from)


def run(config: ml_collections.ConfigDict, workdir: str) -> RunResult:
    """Trains (or resumes, or reports a finished run) in `workdir`."""
    os.makedirs(workdir, exist_ok=True)
    is_main = jax.process_index() == 0
    say = print if is_main else (lambda *_: None)  # user-facing lines come from process 0 only
    _check_same_run(config, workdir)
    checkpoints = Checkpoints(os.path.join(workdir, "checkpoints"), keep=config.checkpoint.keep,
                              keep_best=config.checkpoint.keep_best, best_metric=config.checkpoint.best_metric)
    resumed_from = checkpoints.latest_step()
    if resumed_from is not None:
        saved = checkpoints.restore_meta(resumed_from)
        if saved["epoch"] >= config.train.epochs:  # finished: report without building anything
            say(f"run in {workdir} is finished (step {resumed_from}, epoch {saved['epoch']}); final metrics:")
            say(_format_metrics(saved["last_eval"]))
            checkpoints.close()
            return RunResult.from_meta(resumed_from, saved, resumed_from)

    # --- Input -------------------------------------------------------------------------------
    train_source, val_source = catalog.open_sources(config.data)
    class_names = list(train_source.class_names)
    num_classes = config.model.num_classes or len(class_names)
    if num_classes != len(class_names):
        raise ValueError(f"model.num_classes is {num_classes} but the data has {len(class_names)} classes")
    if config.data.strict:  # the whole list before any training, rather than a stop mid-epoch
        unreadable = [reason for source in (train_source, val_source)
                      for _, reason in scan.scan_source(source, threads=4).bad]
        if unreadable:
            raise pipeline.UnreadableImages(f"{len(unreadable)} unreadable image(s) and data.strict=True:\n  "
                                            + "\n  ".join(unreadable))
    bad = pipeline.BadRecords(strict=config.data.strict)
    options = pipeline.PipelineOptions(workers=config.data.workers, errors=catalog.READ_ERRORS)
    train_transform, eval_transform, crops = _transforms(config)
    processes, process = jax.process_count(), jax.process_index()
    global_batch = config.train.batch_size
    local_batch = global_batch // processes
    eval_batch = (config.eval.batch_size or global_batch) // processes
    steps_per_epoch = len(train_source) // global_batch
    if steps_per_epoch == 0:
        raise ValueError(f"train.batch_size {global_batch} exceeds the {len(train_source)} training examples")

    # --- Mesh ----------------------------------------------------------------------------------
    mesh = mesh_lib.make_mesh(global_batch)
    data_sharding = mesh_lib.batch_sharding(mesh)
    replicated = mesh_lib.replicated(mesh)

    # --- Model and optimiser --------------------------------------------------------------------
    built = setup.build(config, num_classes=num_classes, steps_per_epoch=steps_per_epoch)
    total_params = freeze.count_params(built.model, nnx.Param)
    trainable_params = freeze.count_params(built.model, built.trainable)
    say(f"{config.model.name}: {total_params:,} parameters, {trainable_params:,} trainable")
    weights = None
    if config.loss.class_weighting != "none":
        counts = np.bincount(train_source.labels(), minlength=num_classes)
        weights = losses.class_weights(counts, config.loss.class_weighting, beta=config.loss.beta)
    train_graphdef, eval_graphdef, state = setup.split_modes(built, config)
    state = mesh_lib.replicate(state, mesh)
    trainable, preprocessing, plateau = built.trainable, built.model.preprocessing, built.plateau
    del built  # from here on the state pytree is the single source of truth

    # --- Resume -----------------------------------------------------------------------------------
    log = MetricsLog(workdir, enabled=is_main)
    meta = {"epoch": 0, "iterator": None, "best": None, "last_eval": None, "stale_evals": 0,
            "class_names": class_names,
            "preprocessing": preprocessing.to_dict(), "trainable_params": trainable_params,
            "total_params": total_params, "plateau": plateau.state_dict() if plateau else None}
    if resumed_from is not None:
        state, meta = checkpoints.restore(resumed_from, jax.tree.map(_abstract, state))
        log.truncate_after(resumed_from)
        if plateau:
            plateau.load_state_dict(meta["plateau"])
        say(f"resuming from checkpoint at step {resumed_from} (epoch {meta['epoch'] + 1}/{config.train.epochs})")
    if is_main:
        _save_run_info(workdir, config, meta)

    # --- Steps ----------------------------------------------------------------------------------
    dtype = jnp.dtype(config.model.dtype)
    train_step = steps.make_train_step(train_graphdef, trainable=trainable, preprocessing=preprocessing, dtype=dtype,
                                       num_classes=num_classes, loss_cfg=config.loss, mix_cfg=config.mix,
                                       class_weights=weights, level_loss_weight=config.model.pyramid.level_loss_weight,
                                       seed=config.seed, state_sharding=replicated)
    eval_step = steps.make_eval_step(eval_graphdef, preprocessing=preprocessing, dtype=dtype,
                                     sigmoid=config.loss.kind == "sigmoid", crops=crops)

    def evaluate(state: Any) -> dict[str, Any]:
        parts = ("main", "voted") if crops == "samples" else ("main",)
        counts = mesh_lib.replicate({p: metrics.init_counts(num_classes) for p in parts}, mesh)
        for batch in pipeline.eval_batches(val_source, batch_size=eval_batch, transform=eval_transform, bad=bad,
                                           options=options, process_index=process, process_count=processes):
            counts = eval_step(state, mesh_lib.to_global(batch, data_sharding), counts)
        counts = jax.device_get(counts)
        result = metrics.summarize(counts["main"], class_names=class_names)
        if "voted" in counts:  # per-painting scores of the per-crop view
            voted = metrics.summarize(counts["voted"], class_names=class_names)
            result.update(voted_accuracy=voted["accuracy"], voted_macro_f1=voted["macro_f1"])
        return result

    # --- Loop -----------------------------------------------------------------------------------
    step = int(resumed_from or 0)
    for epoch in range(meta["epoch"], config.train.epochs):
        batches = pipeline.train_batches(train_source, epoch=epoch, batch_size=local_batch,
                                         transform=train_transform, seed=config.seed, bad=bad, options=options,
                                         process_index=process, process_count=processes)
        if meta["iterator"] is not None:
            batches.set_state(meta["iterator"])
        bar = tqdm(total=steps_per_epoch, initial=step - epoch * steps_per_epoch, disable=not is_main,
                   desc=f"epoch {epoch + 1}/{config.train.epochs}", unit="step", dynamic_ncols=True,
                   mininterval=1 if sys.stderr.isatty() else 30, file=sys.stderr)
        pending: list[jax.Array] = []  # losses since the last host sync
        tick, tick_step = time.perf_counter(), step
        for batch in batches:
            state, out = train_step(state, mesh_lib.to_global(batch, data_sharding))
            pending.append(out["loss"])
            step += 1
            bar.update(1)
            last_of_epoch = step == (epoch + 1) * steps_per_epoch
            save_now = config.checkpoint.every_steps and step % config.checkpoint.every_steps == 0
            if len(pending) == config.train.log_every_steps or last_of_epoch or save_now:
                recent = _check_finite(pending, step)
                rate = (step - tick_step) * global_batch / (time.perf_counter() - tick)
                lr = optim.get_lr(state)
                bar.set_postfix(loss=f"{recent[-1]:.4f}", img_s=f"{rate:.1f}", lr=f"{lr:.3g}")
                log.write("train", step, {"epoch": epoch + 1, "loss": float(np.mean(recent)), "lr": lr,
                                          "images_per_sec": rate})
                pending, tick, tick_step = [], time.perf_counter(), step
            if save_now and not last_of_epoch:
                checkpoints.save(step, state, {**meta, "epoch": epoch, "iterator": batches.get_state()})
            if last_of_epoch:
                break
        bar.close()
        if step != (epoch + 1) * steps_per_epoch:
            raise pipeline.UnreadableImages(f"epoch {epoch + 1} ran out of readable training images after "
                                            f"{len(bad.reasons)} unreadable ones; run `python -m artjax.data` "
                                            "on this config to list them")
        meta = {**meta, "epoch": epoch + 1, "iterator": None}
        evaluated = (epoch + 1) % config.eval.every_epochs == 0 or epoch + 1 == config.train.epochs
        if evaluated:
            result = evaluate(state)
            meta["last_eval"] = result
            log.write("val", step, {"epoch": epoch + 1, **result})
            if meta["best"] is None or _better(result, meta["best"]["metrics"], config.checkpoint.best_metric):
                meta["best"] = {"step": step, "epoch": epoch + 1, "metrics": result}
                meta["stale_evals"] = 0
            else:
                meta["stale_evals"] += 1
            if plateau:
                state = optim.set_lr_scale(state, plateau.step(result[config.schedule.metric]))
                meta["plateau"] = plateau.state_dict()
            say(f"epoch {epoch + 1}/{config.train.epochs}: {_format_metrics(result)}")
        patience = config.train.early_stop_patience
        if patience and meta["stale_evals"] >= patience:
            meta["epoch"] = config.train.epochs  # a later run on this workdir reports it as finished
            say(f"early stop: no better {config.checkpoint.best_metric} in {patience} evaluations")
        checkpoints.save(step, state, meta, metrics=_scalars(meta["last_eval"]) if evaluated else None)
        if meta["epoch"] >= config.train.epochs:
            break

    if bad.reasons:
        say(f"skipped {len(bad.reasons)} unreadable image(s) (listed in the log above)")
    checkpoints.close()
    log.close()
    return RunResult.from_meta(step, meta, resumed_from)


def _transforms(config: ml_collections.ConfigDict) -> tuple[Any, Any, str]:
    """(train transform, eval transform, what the eval step does with crops)."""
    size, preset = config.data.image_size, config.data.augment
    train = make_transform(preset, image_size=size, train=True)
    evaluate = make_transform(preset, image_size=size, train=False)
    if config.model.pyramid.enabled:
        levels = config.model.pyramid.levels
        return MultiCrop("pyramid", size, levels=levels, train=True), MultiCrop("pyramid", size, levels=levels), "none"
    view = config.eval.view
    if view == "full":
        return train, evaluate, "none"
    return train, MultiCrop(view, size, base=evaluate), "average" if view == "hflip" else "samples"


def _abstract(x: Any) -> Any:
    return jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding) if isinstance(x, jax.Array) else x


def _check_finite(pending: list[jax.Array], step: int) -> np.ndarray:
    losses = np.asarray(jax.device_get(pending), np.float64)
    if not np.all(np.isfinite(losses)):
        first = step - len(losses) + int(np.argmin(np.isfinite(losses))) + 1
        raise NonFiniteLoss(f"loss is {losses[~np.isfinite(losses)][0]} at step {first}; stopped without "
                            "saving, the last checkpoint is intact (try a lower optimizer.learning_rate)")
    return losses


def _scalars(result: dict[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in result.items() if isinstance(v, (int, float))}


def _better(new: dict[str, Any], old: dict[str, Any], metric: str) -> bool:
    return new[metric] < old[metric] if metric == "loss" else new[metric] > old[metric]


_SHOWN = ("loss", "accuracy", "top5_accuracy", "macro_f1", "voted_accuracy", "voted_macro_f1")


def _format_metrics(result: dict[str, Any]) -> str:
    return ", ".join(f"{k}={result[k]:.4f}" for k in _SHOWN if k in result)


_RUN_IDENTITY = ("model.name", "model.num_classes", "model.head", "data.source", "data.image_size")


def _check_same_run(config: ml_collections.ConfigDict, workdir: str) -> None:
    """Refuses to resume a workdir written by a run with another model or data."""
    path = os.path.join(workdir, "config.json")
    if not os.path.exists(path):
        return
    with open(path) as f:
        saved = json.load(f)
    current = json.loads(config.to_json_best_effort())
    for key in _RUN_IDENTITY:
        section, name = key.split(".")
        if saved[section][name] != current[section][name]:
            raise ValueError(f"workdir {workdir} holds a run with {key}={saved[section][name]!r}, not "
                             f"{current[section][name]!r}; use another --workdir")


def _save_run_info(workdir: str, config: ml_collections.ConfigDict, meta: dict[str, Any]) -> None:
    with open(os.path.join(workdir, "config.json"), "w") as f:
        f.write(config.to_json_best_effort(indent=2))
    with open(os.path.join(workdir, "classes.json"), "w") as f:
        json.dump({"class_names": meta["class_names"], "preprocessing": meta["preprocessing"]}, f, indent=2)

