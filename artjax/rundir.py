"""The run directory: the one place that names a run's files and reads and writes them.

    DIR/config.json      the resolved config of the run (written at start, read on resume/restore)
    DIR/classes.json     {"class_names": [...], "preprocessing": {...}}
    DIR/checkpoints/     orbax checkpoints (train/checkpoint.py)
    DIR/metrics.jsonl    one JSON record per line: {"split": "train"|"val", "step": N, ...}, and
                         one "calibration" and one "openset" row (the end-of-run scorings)
    DIR/tensorboard/     the same scalars as TensorBoard events
    DIR/report/          index.html and its figures; resizer.png and predictions.csv live here too;
                         test.html, test_confusion.png, test_predictions.csv: the labelled test set
    DIR/test_metrics.json  the last scoring of a labelled test set (runs/evaluate.py)
    DIR/class_selection.json  the classes data.top_classes kept, with their works (wikiart; else absent)
    DIR/calibration.json the temperature fitted on validation for one checkpoint (runs/calibrate.py)
    DIR/openset.json     the unknown-artist score's threshold, AUROC and FAR (runs/calibrate.py)
    DIR/gallery.npz      the training works' embeddings, labels and paths (runs/gallery.py)
    DIR/knn.json         kNN accuracy on validation (k = 1, 5, 20) beside the head's (runs/gallery.py)
    DIR/identity.json    what a resumed run must share with the one that wrote the checkpoints
    DIR/artjax.lock      held (an OS file lock) by the process training in DIR; names it
    DIR/corrupt_checkpoints/  checkpoints found damaged, moved out of the way, never deleted

Nothing here imports JAX or any other artjax layer: every layer may use it.
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import json
import os
import socket
from collections.abc import Iterator
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
TEST_METRICS = "test_metrics.json"
TEST_REPORT = "test.html"  # in REPORT_DIR, as are the next two
TEST_CONFUSION = "test_confusion.png"
TEST_PREDICTIONS = "test_predictions.csv"
IDENTITY = "identity.json"
CLASS_SELECTION = "class_selection.json"
CALIBRATION = "calibration.json"
OPENSET = "openset.json"
GALLERY = "gallery.npz"
KNN = "knn.json"
RELIABILITY_FIGURE = "reliability.png"  # in REPORT_DIR
NEIGHBOURS_FIGURE = "neighbours.png"  # in REPORT_DIR
LOCK = "artjax.lock"
CORRUPT = "corrupt_checkpoints"

_held: dict[str, tuple[int, int]] = {}  # realpath of a held lock file -> (fd, depth)


class RunLocked(RuntimeError):
    """Another process is training in this run directory."""


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

    @property
    def test_metrics(self) -> str:
        return os.path.join(self.path, TEST_METRICS)

    @property
    def test_report(self) -> str:
        return self.report_file(TEST_REPORT)

    @property
    def test_predictions(self) -> str:
        return self.report_file(TEST_PREDICTIONS)

    @property
    def class_selection(self) -> str:
        return os.path.join(self.path, CLASS_SELECTION)

    @property
    def calibration(self) -> str:
        return os.path.join(self.path, CALIBRATION)

    @property
    def openset(self) -> str:
        return os.path.join(self.path, OPENSET)

    def read_calibration(self) -> dict[str, Any] | None:
        return _read_json(self.calibration)

    def write_calibration(self, record: dict[str, Any]) -> None:
        _write_atomically(self.calibration, json.dumps(record, indent=2))

    def read_openset(self) -> dict[str, Any] | None:
        return _read_json(self.openset)

    def write_openset(self, record: dict[str, Any]) -> None:
        _write_atomically(self.openset, json.dumps(record, indent=2))

    @property
    def gallery(self) -> str:
        return os.path.join(self.path, GALLERY)

    @property
    def knn(self) -> str:
        return os.path.join(self.path, KNN)

    def read_knn(self) -> dict[str, Any] | None:
        return _read_json(self.knn)

    def write_knn(self, record: dict[str, Any]) -> None:
        _write_atomically(self.knn, json.dumps(record, indent=2))

    @property
    def identity(self) -> str:
        return os.path.join(self.path, IDENTITY)

    @property
    def corrupt(self) -> str:
        return os.path.join(self.path, CORRUPT)

    # ---------------------------------------------------------------------------- the lock

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Holds the directory's lock, or raises RunLocked naming its holder at once.

        An flock: the operating system releases it when the holder dies, SIGKILL included, so a
        lock is never stale. Re-entrant within a process (the CLI holds it around training and
        the report; the loop takes it too, for library callers)."""
        os.makedirs(self.path, exist_ok=True)
        path = os.path.realpath(os.path.join(self.path, LOCK))
        if path in _held:
            fd, depth = _held[path]
            _held[path] = fd, depth + 1
        else:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 512, 0).decode(errors="replace").strip() or "another process"
                os.close(fd)
                raise RunLocked(f"workdir {self.path} is in use by {holder}; wait for it to end or use "
                                "another --workdir") from None
            os.ftruncate(fd, 0)
            started = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
            os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()} since {started}\n".encode(), 0)
            _held[path] = fd, 1
        try:
            yield
        finally:
            fd, depth = _held[path]
            if depth > 1:
                _held[path] = fd, depth - 1
            else:
                del _held[path]
                os.ftruncate(fd, 0)
                os.close(fd)  # closing the descriptor releases the flock

    # ------------------------------------------------------------------------- config.json

    def read_config_json(self) -> dict[str, Any] | None:
        """The saved config as plain JSON (None before the first run wrote it)."""
        return _read_json(self.config)

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

    # --------------------------------------------------------------- class_selection.json

    def read_class_selection(self) -> dict[str, Any] | None:
        """The kept classes and their counts (None when the run kept every class)."""
        return _read_json(self.class_selection)

    def write_class_selection(self, record: dict[str, Any]) -> None:
        _write_atomically(self.class_selection, json.dumps(record, indent=2))

    # ----------------------------------------------------------------------- identity.json

    def read_identity(self) -> dict[str, Any] | None:
        """The saved run identity (None for a run written before identity.json existed)."""
        return _read_json(self.identity)

    def write_identity(self, identity: dict[str, Any]) -> None:
        _write_atomically(self.identity, json.dumps(identity, indent=2))

    # ------------------------------------------------------------------- test_metrics.json

    def read_test_metrics(self) -> dict[str, Any] | None:
        """The last test-set scoring (None when the run has none)."""
        return _read_json(self.test_metrics)

    def write_test_metrics(self, record: dict[str, Any]) -> None:
        _write_atomically(self.test_metrics, json.dumps(record, indent=2))

    # ----------------------------------------------------------------------- metrics.jsonl

    def read_metrics(self) -> list[dict[str, Any]]:
        """Every record of metrics.jsonl in order (empty when the run has logged nothing)."""
        if not os.path.exists(self.metrics):
            return []
        with open(self.metrics) as f:
            lines = [line for line in f if line.strip()]
        records = []
        for i, line in enumerate(lines):
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                if i < len(lines) - 1 or line.endswith("\n"):
                    raise ValueError(f"{self.metrics}: line {i + 1} is not JSON") from None
                # the last line of a process killed mid-append: dropped, the step is logged again
        return records

    def append_metrics(self, record: dict[str, Any]) -> None:
        with open(self.metrics, "a") as f:
            f.write(json.dumps(record) + "\n")

    def replace_metrics(self, record: dict[str, Any]) -> None:
        """Appends `record` in place of every earlier record of its split: the end-of-run
        scorings ('calibration', 'openset') have one current row, whichever checkpoint they scored."""
        kept = [r for r in self.read_metrics() if r["split"] != record["split"]]
        _write_atomically(self.metrics, "".join(json.dumps(r) + "\n" for r in [*kept, record]))

    def truncate_metrics(self, step: int) -> None:
        """Drops records past `step`: a resumed run redoes them from its checkpoint."""
        kept = [r for r in self.read_metrics() if r["step"] <= step]
        _write_atomically(self.metrics, "".join(json.dumps(r) + "\n" for r in kept))


def _read_json(path: str) -> Any:
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def _write_atomically(path: str, text: str) -> None:
    """Write-then-rename, so a kill never leaves a half-written file behind."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)
