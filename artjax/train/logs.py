"""Where a run's numbers go: `metrics.jsonl` (one JSON object per line) and TensorBoard events."""

from __future__ import annotations

import json
import math
import os
from typing import Any

from tensorboardX import SummaryWriter


class MetricsLog:
    """Appends records to DIR/metrics.jsonl and scalars to DIR/tensorboard; process 0 only."""

    def __init__(self, workdir: str, *, enabled: bool = True) -> None:
        self.enabled = enabled
        self.path = os.path.join(workdir, "metrics.jsonl")
        self._writer = SummaryWriter(os.path.join(workdir, "tensorboard")) if enabled else None

    def write(self, split: str, step: int, values: dict[str, Any]) -> None:
        if not self.enabled:
            return
        record = {"split": split, "step": step, **values}
        with open(self.path, "a") as f:
            f.write(json.dumps(record) + "\n")
        for name, value in values.items():
            if isinstance(value, (int, float)) and math.isfinite(value):
                self._writer.add_scalar(f"{split}/{name}", value, step)
        self._writer.flush()

    def truncate_after(self, step: int) -> None:
        """Drops records past `step`: a resumed run redoes them from its checkpoint."""
        if not self.enabled:
            return
        kept = [r for r in read_metrics(os.path.dirname(self.path)) if r["step"] <= step]
        with open(self.path, "w") as f:
            f.writelines(json.dumps(r) + "\n" for r in kept)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()


def read_metrics(workdir: str) -> list[dict[str, Any]]:
    """All records of DIR/metrics.jsonl, in order (empty when the run has logged nothing)."""
    path = os.path.join(workdir, "metrics.jsonl")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]
