"""Scoring a labelled test set with a trained run: `python -m artjax.evaluate` and the end of a
run whose config names one (`data.test_csv` / `data.test_root`, finish.py).

A test set is a folder of class folders or a CSV manifest (data.path_column, data.label_column),
opened by the file sources of artjax/data/sources/ with the run's classes (classes.json): a test
class the run does not know is an error naming it. Every image goes through the run's
evaluation view with the restored model (`evaluate_source`, the report's path); unreadable
images are skipped and listed. Metrics are per image (a quarter-crop view's crops are combined
first), computed once by `metrics.summarize_confusion`; the probabilities in the predictions are
temperature-scaled when the run's calibration.json is for the scored checkpoint (runs/calibrate.py);
they go to DIR/test_metrics.json, the
predictions to DIR/report/test_predictions.csv and the page to DIR/report/test.html.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from typing import Any

import ml_collections
import numpy as np
from absl import logging

from artjax import rundir
from artjax.data import catalog, integrity
from artjax.data.sources import DecodeOptions, FileSource
from artjax.data.sources.files import csv_source, folder_source
from artjax.eval import metrics, report
from artjax.rundir import RunDir
from artjax.runs import calibrate
from artjax.runs.restore import load_run

KEY = "test set"  # how errors name the set


@dataclasses.dataclass
class TestResult:
    scores: dict[str, Any]  # metrics.summarize_confusion of the predictions, plus what was scored
    class_names: list[str]
    skipped: list[str]  # reasons, naming the file, of the unreadable images
    page: str  # DIR/report/test.html


def configured(data: ml_collections.ConfigDict) -> bool:
    """Whether the data config names a test set."""
    return bool(data.test_csv or data.test_root)


def _open_one(path: str, data: ml_collections.ConfigDict, class_names: list[str], *, root: str = "",
              key: str = KEY) -> FileSource:
    options = DecodeOptions.from_config(data)
    if os.path.isdir(path):
        return folder_source(path, options, class_names=class_names, key=key)
    if os.path.isfile(path) and path.lower().endswith(".csv"):
        return csv_source(path, root, options, path_column=data.path_column, label_column=data.label_column,
                          class_names=class_names, key=key)
    if os.path.exists(path):
        raise ValueError(f"{key} {path}: expected a folder of class folders or a .csv manifest")
    raise FileNotFoundError(f"{key} {path}: no such file or directory")


def open_test_set(paths: Sequence[str], data: ml_collections.ConfigDict,
                  class_names: list[str]) -> tuple[FileSource, str]:
    """(source, description) of the PATHs (folders of class folders or CSV manifests, together
    one set), or of the data config's test_csv / test_root when `paths` is empty."""
    if not paths:
        if data.test_csv:
            return _open_one(data.test_csv, data, class_names, root=data.test_root, key="data.test_csv"), data.test_csv
        if data.test_root:
            return _open_one(data.test_root, data, class_names, key="data.test_root"), data.test_root
        raise ValueError("no test set: give PATHs, or set data.test_root or data.test_csv in the run's config")
    parts = [_open_one(path, data, class_names) for path in paths]
    if len(parts) == 1:
        return parts[0], paths[0]
    files = [p for part in parts for p in integrity.resolved_paths(part)]  # absolute: one source of all
    labels = np.concatenate([part.labels() for part in parts])
    return FileSource("", files, labels, class_names, parts[0].options), ", ".join(paths)


def _check_against_training(test: FileSource, config: ml_collections.ConfigDict) -> None:
    try:
        seen = catalog.open_sources(config.data)
    except (OSError, ValueError) as error:  # the training data may live elsewhere by now
        logging.warning("could not open the run's training data to compare it with the test set (%s)", error)
        seen = ()
    integrity.check_test_set(test, tuple(seen), allow_overlap=config.data.allow_overlap)


def evaluate_test_set(workdir: str, paths: Sequence[str] = (), *, which: str | None = None, step: int | None = None,
                      view: str | None = None, batch_size: int = 32) -> TestResult:
    """Scores the test set of `paths` (or the run's configured one) with the `which` checkpoint
    (None: the run's checkpoint.select) or that of `step`, through `view` (None: the run's
    eval.view; a pyramid model's own). Writes the metrics, predictions and page; raises
    FileNotFoundError / ValueError for what cannot be scored, report.NothingReadable when no
    image reads."""
    if not os.path.isdir(workdir):
        raise FileNotFoundError(f"--workdir {workdir}: no such directory")
    run = load_run(workdir, which=which, step=step)
    calibrated = calibrate.temperature(workdir, run.step)
    classifier = run.classifier(batch_size=batch_size, temperature=calibrated.value)
    view = view or run.eval_view
    classifier.check_view(view)
    source, description = open_test_set(paths, run.config.data, run.class_names)
    _check_against_training(source, run.config)
    evaluation = report.evaluate_source(classifier, source, transform=run.eval_transform(),
                                        image_size=run.config.data.image_size, view=view,
                                        errors=catalog.READ_ERRORS, split="test")
    names = run.class_names
    scores = metrics.summarize_confusion(evaluation.confusion(len(names)), names)
    scores.update(test_set=description, count=len(evaluation.labels), skipped=len(evaluation.skipped),
                  step=run.step, checkpoint=run.which or "chosen", weights=run.weights, view=view,
                  temperature=calibrated.value, probabilities=calibrated.note)
    run_dir = RunDir(workdir)
    os.makedirs(run_dir.report, exist_ok=True)
    run_dir.write_test_metrics(scores)
    report.write_predictions(evaluation, names, run_dir.test_predictions)
    page = _write_page(run_dir, scores, names, evaluation.skipped, run.checkpoint_name)
    return TestResult(scores, names, evaluation.skipped, page)


def _write_page(run_dir: RunDir, scores: dict[str, Any], class_names: list[str], skipped: list[str],
                restored: str) -> str:
    summary = [("run", os.path.abspath(run_dir.path)), ("test set", scores["test_set"]), ("model", restored),
               ("view", scores["view"]),
               ("images", f"{scores['count']} scored, {len(skipped)} unreadable skipped"),
               ("accuracy", f"{scores['accuracy']:.4f}"), ("macro-F1", f"{scores['macro_f1']:.4f}")]
    notes = [f"unreadable test image skipped: {reason}" for reason in skipped]
    links = [(rundir.TEST_PREDICTIONS, f"{rundir.TEST_PREDICTIONS} (every test image)"),
             (f"../{rundir.TEST_METRICS}", rundir.TEST_METRICS), (rundir.REPORT_INDEX, "the run's report")]
    content = report.ReportContent(
        title=f"artjax test set: {os.path.basename(os.path.abspath(run_dir.path))}", summary=summary,
        class_names=class_names, curves=None, confusion=np.asarray(scores["confusion_matrix"]),
        confusion_origin=f"{scores['count']} test images predicted by the {restored} (view {scores['view']})",
        gallery=None, cams=None, links=links, notes=notes)
    return report.write_html(run_dir.report, content, name=rundir.TEST_REPORT, confusion_name=rundir.TEST_CONFUSION)


def format_result(result: TestResult) -> str:
    """Accuracy, macro-F1 and the per-class report, as the CLI prints them."""
    s = result.scores
    return "\n".join([f"accuracy  {s['accuracy']:.4f}", f"macro-F1  {s['macro_f1']:.4f}",
                      f"probabilities  {s['probabilities']}", "",
                      report.classification_report_text(s, result.class_names)])
