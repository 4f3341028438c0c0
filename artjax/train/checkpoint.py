"""Orbax checkpoints of a run: model + optimiser state, and a JSON record of everything else.

Each checkpoint holds two items: `state`, the pure-dict pytree of (model, optimiser) state
(parameters, batch statistics, RNG state, optimiser moments, step); and `meta`, JSON with the
epoch, the data-iterator state, the host-side schedule state and the validation metrics, so a
resumed run continues with exactly the batches and random numbers it would have seen.
The latest `keep` checkpoints and the best `keep_best` by a validation metric are preserved.

A checkpoint can be damaged after it was written (a full disk, a copy cut short, a bad sector):
`damage(step)` reads one whole, and `newest_intact` skips damaged ones with a warning naming
them, so that a run resumes, predicts and reports from the newest checkpoint that reads.
"""

from __future__ import annotations

import dataclasses
import datetime
import io
import os
import shutil
import sys
import time
from collections.abc import Callable
from typing import Any

import jax
import ml_collections
import orbax.checkpoint as ocp
from absl import logging
from orbax.checkpoint.checkpoint_managers import preservation_policy as policies

from artjax import literal_paths
from artjax.eval.metrics import lower_is_better
from artjax.rundir import RunDir

literal_paths.install()


def first_line(error: BaseException) -> str:
    """An exception as one short line (orbax and TensorStore messages run to many KB)."""
    text = " ".join(str(error).split()) or type(error).__name__
    return text if len(text) <= 300 else text[:297] + "..."


SELECT = ("best", "last")  # checkpoint.select: which checkpoint a run's end-of-run work uses
RANKING = "ranking"  # the meta item's copy of the selection metric (None for unevaluated saves)


@dataclasses.dataclass
class _Info:
    step: int
    metrics: dict[str, Any] | None
    time: datetime.datetime


@dataclasses.dataclass
class _BestNRecorded(policies.BestN):
    """BestN that also ranks the checkpoints an earlier process saved. Without a `best_fn`,
    orbax keeps the metrics given to `save` in memory only: after a resume every older
    checkpoint looked unranked and the best one was deleted at the next saves. The ranking
    therefore also travels in each checkpoint's meta item, read back here when needed."""

    recorded: Callable[[int], dict[str, Any] | None] | None = None

    def should_preserve(self, checkpoints: Any, *, context: Any) -> Any:
        seen = [cp if cp.metrics is not None else _Info(cp.step, self.recorded(cp.step), cp.time)
                for cp in checkpoints]
        return super().should_preserve(seen, context=context)


def _without_ranking(meta: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in meta.items() if k != RANKING}


PARTIAL_SAVE = ".orbax-checkpoint-tmp"  # orbax writes N.orbax-checkpoint-tmp-TIME, then renames it N


def remove_partial_saves(directory: str) -> list[str]:
    """Removes the saves a kill cut short; returns their names. Done here, not by orbax's
    `cleanup_tmp_directories`: that runs in a background thread which a run ending before its
    first save leaves behind, and which then dies with a stack trace at interpreter exit."""
    if not os.path.isdir(directory):
        return []
    partial = [name for name in os.listdir(directory) if PARTIAL_SAVE in name]
    for name in partial:
        shutil.rmtree(os.path.join(directory, name), ignore_errors=True)
    return partial


class Checkpoints:
    @classmethod
    def for_run(cls, run_dir: RunDir, config: ml_collections.ConfigDict, *, training: bool = False) -> Checkpoints:
        """The checkpoints of a run, kept as its `checkpoint.*` config says. `training`: the
        caller holds the run's lock and will save, with every process of the run; saves cut
        short by a kill are removed. Otherwise this process reads alone."""
        c = config.checkpoint
        return cls(run_dir.checkpoints, keep=c.keep, keep_best=c.keep_best, best_metric=c.best_metric,
                   training=training)

    def __init__(self, directory: str, *, keep: int, keep_best: int, best_metric: str,
                 training: bool = False) -> None:
        self.best_metric = best_metric
        self._rankings: dict[int, dict[str, float] | None] = {}
        policy = policies.AnyPreservationPolicy([
            policies.LatestN(n=keep),
            _BestNRecorded(
                get_metric_fn=lambda metrics: metrics[best_metric],
                reverse=lower_is_better(best_metric),  # BestN keeps the tail of an ascending sort
                n=keep_best,
                keep_checkpoints_without_metrics=False,
                recorded=self._recorded_ranking,
            ),
        ])
        # Reading for evaluation, prediction or a report is one process's own business: without
        # `active_processes` orbax would wait at barriers for processes that never come.
        # (orbax then leaves creating the directory to its caller).
        local = {} if training else {"create": False, "multiprocessing_options": ocp.options.MultiprocessingOptions(
            primary_host=jax.process_index(), active_processes={jax.process_index()})}
        options = ocp.CheckpointManagerOptions(preservation_policy=policy, enable_async_checkpointing=False, **local)
        self.after_first_save: Callable[[], None] | None = None  # run once, after this process's first save
        self.directory = os.path.abspath(directory)
        os.makedirs(self.directory, exist_ok=True)
        if training and jax.process_index() == 0:
            for name in remove_partial_saves(self.directory):
                logging.warning("removed %s: a save that a kill cut short", os.path.join(self.directory, name))
        self.manager = ocp.CheckpointManager(self.directory, options=options, item_handlers={
            "state": ocp.StandardCheckpointHandler(), "meta": ocp.JsonCheckpointHandler()})

    def latest_step(self) -> int | None:
        return self.manager.latest_step()

    def steps(self) -> list[int]:
        return sorted(self.manager.all_steps())

    def damage(self, step: int) -> str | None:
        """Why the checkpoint at `step` cannot be read, or None when all of it reads (onto one
        local device, whatever topology wrote it)."""
        # A failed read leaves TensorStore callbacks that print tracebacks ("Event loop is closed")
        # from their threads once orbax's event loop is gone: they are caught here, not shown.
        saved, sys.stderr = sys.stderr, io.StringIO()
        try:
            shapes = self.manager.item_metadata(step).state
            if shapes is None:
                return "its array metadata is missing"
            device = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
            abstract = jax.tree.map(lambda m: jax.ShapeDtypeStruct(m.shape, m.dtype, sharding=device), shapes)
            self.manager.restore(step, args=ocp.args.Composite(state=ocp.args.StandardRestore(abstract),
                                                               meta=ocp.args.JsonRestore()))
        except Exception as error:  # orbax and TensorStore raise many types for damaged files
            time.sleep(0.5)  # the stragglers finish
            return first_line(error)
        finally:
            sys.stderr = saved
        return None

    def newest_intact(self, *, quarantine: str | None = None) -> int | None:
        """The newest step whose checkpoint reads whole (None when there is none). Each damaged
        newer one is named in a warning and, with `quarantine` (a directory), moved there so
        that training can save that step again; nothing is deleted."""
        moved = False
        found = None
        for step in sorted(self.manager.all_steps(), reverse=True):
            reason = self.damage(step)
            if reason is None:
                found = step
                break
            logging.warning("checkpoint %s is damaged and skipped: %s", os.path.join(self.directory, str(step)),
                            reason)
            if quarantine is not None and jax.process_index() == 0:
                os.makedirs(quarantine, exist_ok=True)
                target = os.path.join(quarantine, str(step))
                suffix = 1
                while os.path.exists(target):
                    target, suffix = os.path.join(quarantine, f"{step}.{suffix}"), suffix + 1
                os.rename(os.path.join(self.directory, str(step)), target)
                logging.warning("moved it to %s", target)
                moved = True
        if moved:
            self.manager.reload()
        return found

    def save(self, step: int, state: Any, meta: dict[str, Any], metrics: dict[str, float] | None = None) -> None:
        # Only the selection metric goes to orbax: BestN ranks by it, mid-epoch saves carry none.
        ranking = {self.best_metric: float(metrics[self.best_metric])} if metrics else None
        self._rankings[step] = ranking
        self.manager.save(step, args=ocp.args.Composite(state=ocp.args.StandardSave(state),
                                                        meta=ocp.args.JsonSave({**meta, RANKING: ranking})),
                          metrics=ranking, force=True)
        if self.after_first_save is not None:
            hook, self.after_first_save = self.after_first_save, None
            hook()

    def restore(self, step: int, abstract_state: Any) -> tuple[Any, dict[str, Any]]:
        restored = self.manager.restore(step, args=ocp.args.Composite(
            state=ocp.args.StandardRestore(abstract_state), meta=ocp.args.JsonRestore()))
        return restored.state, _without_ranking(restored.meta)

    def _recorded_ranking(self, step: int) -> dict[str, float] | None:
        if step not in self._rankings:
            try:
                self._rankings[step] = self._read_meta(step).get(RANKING)
            except Exception:  # noqa: BLE001 - a damaged or pre-ranking checkpoint ranks as unevaluated
                self._rankings[step] = None
        return self._rankings[step]

    def restore_meta(self, step: int) -> dict[str, Any]:
        """The meta item as it was given to `save`."""
        return _without_ranking(self._read_meta(step))

    def _read_meta(self, step: int) -> dict[str, Any]:
        return self.manager.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore())).meta

    def close(self) -> None:
        self.manager.close()
