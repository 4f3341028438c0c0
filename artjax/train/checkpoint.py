"""Orbax checkpoints of a run: model + optimiser state, and a JSON record of everything else.

Each checkpoint holds two items: `state`, the pure-dict pytree of (model, optimiser) state
(parameters, batch statistics, RNG state, optimiser moments, step); and `meta`, JSON with the
epoch, the data-iterator state, the host-side schedule state and the validation metrics, so a
resumed run continues with exactly the batches and random numbers it would have seen.
The latest `keep` checkpoints and the best `keep_best` by a validation metric are preserved.
"""

from __future__ import annotations

import os
from typing import Any

import ml_collections
import orbax.checkpoint as ocp
from orbax.checkpoint.checkpoint_managers import preservation_policy as policies

from artjax.eval.metrics import lower_is_better
from artjax.rundir import RunDir


class Checkpoints:
    @classmethod
    def for_run(cls, run_dir: RunDir, config: ml_collections.ConfigDict) -> Checkpoints:
        """The checkpoints of a run, kept as its `checkpoint.*` config says."""
        c = config.checkpoint
        return cls(run_dir.checkpoints, keep=c.keep, keep_best=c.keep_best, best_metric=c.best_metric)

    def __init__(self, directory: str, *, keep: int, keep_best: int, best_metric: str) -> None:
        self.best_metric = best_metric
        policy = policies.AnyPreservationPolicy([
            policies.LatestN(n=keep),
            policies.BestN(
                get_metric_fn=lambda metrics: metrics[best_metric],
                reverse=lower_is_better(best_metric),  # BestN keeps the tail of an ascending sort
                n=keep_best,
                keep_checkpoints_without_metrics=False,
            ),
        ])
        options = ocp.CheckpointManagerOptions(preservation_policy=policy, enable_async_checkpointing=False)
        self.manager = ocp.CheckpointManager(os.path.abspath(directory), options=options,
                                             item_names=("state", "meta"))

    def latest_step(self) -> int | None:
        return self.manager.latest_step()

    def save(self, step: int, state: Any, meta: dict[str, Any], metrics: dict[str, float] | None = None) -> None:
        # Only the selection metric goes to orbax: BestN ranks by it, mid-epoch saves carry none.
        ranking = {self.best_metric: float(metrics[self.best_metric])} if metrics else None
        self.manager.save(step, args=ocp.args.Composite(state=ocp.args.StandardSave(state),
                                                        meta=ocp.args.JsonSave(meta)),
                          metrics=ranking, force=True)

    def restore(self, step: int, abstract_state: Any) -> tuple[Any, dict[str, Any]]:
        restored = self.manager.restore(step, args=ocp.args.Composite(
            state=ocp.args.StandardRestore(abstract_state), meta=ocp.args.JsonRestore()))
        return restored.state, restored.meta

    def restore_meta(self, step: int) -> dict[str, Any]:
        return self.manager.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore())).meta

    def close(self) -> None:
        self.manager.close()
