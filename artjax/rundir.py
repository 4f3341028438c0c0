"""The run directory: the one place that names a run's files and reads and writes them.

    DIR/config.json      the resolved config of the run (written at start, read on resume/restore)
    DIR/classes.json     {"class_names": [...], "preprocessing": {...}}
    DIR/checkpoints/     orbax checkpoints (train/checkpoint.py)
    DIR/metrics.jsonl    one JSON record per line: {"split": "train"|"val", "step": N, ...}
    DIR/tensorboard/     the same scalars as TensorBoard events
    DIR/report/          index.html and its figures; resizer.png and predictions.csv live here too

Nothing here imports JAX or any other artjax layer: every layer may use it.
"""

from __future__ import annotations

import json
import os
from typing import Any

CONFIG = "config.json"
CLASSES = "classes.json"
CHECKPOINTS = "checkpoints"
METRICS = "metrics.jsonl"
TENSORBOARD = "tensorboard"
REPORT_DIR = "report"
REPORT_INDEX = "index.html"  # in REPORT_DIR
RESIZER_FIGURE = "resizer.png"  # in REPORT_DIR
PREDICTIONS = "predictions.csv"  # in REPORT_DIR


class RunDir:
    """The files of the run in `path` (the directory need not exist yet)."""

    def __init__(self, path: str) -> None:
        self.path = path

    @property
    def config(self) -> str:
        return os.path.join(self.path, CONFIG)

    @property
    def classes(self) -> str:
        return os.path.join(self.path, CLASSES)

    @property
    def checkpoints(self) -> str:
        return os.path.join(self.path, CHECKPOINTS)

    @property
    def metrics(self) -> str:
        return os.path.join(self.path, METRICS)

    @property
    def tensorboard(self) -> str:
        return os.path.join(self.path, TENSORBOARD)

    @property
    def report(self) -> str:
        return os.path.join(self.path, REPORT_DIR)

    def report_file(self, name: str) -> str:
        return os.path.join(self.path, REPORT_DIR, name)

    @property
    def report_index(self) -> str:
        return self.report_file(REPORT_INDEX)

    @property
    def resizer_figure(self) -> str:
        return self.report_file(RESIZER_FIGURE)

    @property
    def predictions(self) -> str:
        return self.report_file(PREDICTIONS)

    # ------------------------------------------------------------------------- config.json

    def read_config_json(self) -> dict[str, Any] | None:
        """The saved config as plain JSON (None before the first run wrote it)."""
        if not os.path.exists(self.config):
            return None
        with open(self.config) as f:
            return json.load(f)

    def write_config(self, config_json: str) -> None:
        _write_atomically(self.config, config_json)

    # ------------------------------------------------------------------------ classes.json

    def read_classes(self) -> tuple[list[str], dict[str, Any] | None]:
        """(class names, preprocessing dict); FileNotFoundError naming the run if missing."""
        if not os.path.exists(self.classes):
            raise FileNotFoundError(f"{self.path} has no {CLASSES}: not a complete artjax run directory")
        with open(self.classes) as f:
            saved = json.load(f)
        return list(saved["class_names"]), saved.get("preprocessing")

    def write_classes(self, class_names: list[str], preprocessing: dict[str, Any]) -> None:
        _write_atomically(self.classes, json.dumps({"class_names": list(class_names),
                                                    "preprocessing": preprocessing}, indent=2))

    # ----------------------------------------------------------------------- metrics.jsonl

    def read_metrics(self) -> list[dict[str, Any]]:
        """Every record of metrics.jsonl in order (empty when the run has logged nothing)."""
        if not os.path.exists(self.metrics):
            return []
        with open(self.metrics) as f:
            return [json.loads(line) for line in f if line.strip()]

    def append_metrics(self, record: dict[str, Any]) -> None:
        with open(self.metrics, "a") as f:
            f.write(json.dumps(record) + "\n")

    def truncate_metrics(self, step: int) -> None:
        """Drops records past `step`: a resumed run redoes them from its checkpoint."""
        kept = [r for r in self.read_metrics() if r["step"] <= step]
        _write_atomically(self.metrics, "".join(json.dumps(r) + "\n" for r in kept))


def _write_atomically(path: str, text: str) -> None:
    """Write-then-rename, so a kill never leaves a half-written file behind."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)
