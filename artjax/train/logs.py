"""Where a run's numbers go: `metrics.jsonl` (one JSON object per line) and TensorBoard events."""

from __future__ import annotations

import math
from typing import Any

from artjax import runtime
from artjax.rundir import RunDir

SummaryWriter = runtime.import_without_torch("tensorboardX").SummaryWriter


class MetricsLog:
    """Appends records to DIR/metrics.jsonl and scalars to DIR/tensorboard; process 0 only."""

    def __init__(self, run_dir: RunDir, *, enabled: bool = True) -> None:
        self.enabled = enabled
        self.run_dir = run_dir
        self._writer = SummaryWriter(run_dir.tensorboard) if enabled else None

    def write(self, split: str, step: int, values: dict[str, Any]) -> None:
        if not self.enabled:
            return
        self.run_dir.append_metrics({"split": split, "step": step, **values})
        for name, value in values.items():
            if isinstance(value, (int, float)) and math.isfinite(value):
                self._writer.add_scalar(f"{split}/{name}", value, step)
        self._writer.flush()

    def truncate_after(self, step: int) -> None:
        """Drops records past `step`: a resumed run redoes them from its checkpoint."""
        if self.enabled:
            self.run_dir.truncate_metrics(step)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
