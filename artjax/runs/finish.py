"""The end of every run, whoever started it (`artjax.main`, `artjax.sweep`): the method figures
and the configured test set's scoring first (the report links them), then the report, all from
the checkpoint `checkpoint.select` names."""

from __future__ import annotations

import os

import ml_collections
import numpy as np
from absl import logging

from artjax.data import catalog
from artjax.eval.resizer_figure import draw_resizer_figure
from artjax.rundir import RunDir
from artjax.runs import calibrate, evaluate
from artjax.runs.report import write_report
from artjax.runs.restore import load_run, selected


def write_resizer_figure(workdir: str, *, num_images: int = 4) -> str:
    """Writes DIR/report/resizer.png for a run whose model has a Resizer; returns its path."""
    run = load_run(workdir)
    if not hasattr(run.model, "resizer"):
        raise ValueError(f"the model of {workdir} has no Resizer (model.resizer.enabled is False)")
    source = catalog.open_sources(run.config.data)[1]
    transform = run.eval_transform()
    images = np.stack([transform(source.read(i)["image"], 0) for i in range(min(num_images, len(source)))])
    path = RunDir(workdir).resizer_figure
    os.makedirs(os.path.dirname(path), exist_ok=True)
    return draw_resizer_figure(run.model.resizer, run.prepare()(images), run.model.preprocessing, path)


def finish_run(workdir: str, config: ml_collections.ConfigDict, *, trained: bool = True) -> str:
    """Writes the run's figures, its gallery, calibration, unknown-artist threshold and kNN (runs/calibrate.py),
    the scores of its configured test set (once, from the checkpoint.select checkpoint) and its
    report; returns the path of the report's index.html.

    trained: False when this invocation found the run finished and trained nothing; its report
    is then kept if it exists (`python -m artjax.report` rewrites it on demand)."""
    index = RunDir(workdir).report_index
    if not trained and os.path.exists(index):
        return index
    if config.model.resizer.enabled:
        write_resizer_figure(workdir)
    which = selected(config)
    print(calibrate.describe(calibrate.calibrate_run(workdir, which=which)))
    if evaluate.configured(config.data):
        result = evaluate.evaluate_test_set(workdir, which=which)
        for reason in result.skipped:
            logging.warning("skipping unreadable test image: %s", reason)
        print(f"test set {result.scores['test_set']}: accuracy {result.scores['accuracy']:.4f}, macro-F1 "
              f"{result.scores['macro_f1']:.4f} ({result.scores['count']} images, {len(result.skipped)} unreadable "
              f"skipped, {result.scores['checkpoint']} checkpoint, step {result.scores['step']}): {result.page}")
    return write_report(workdir, which=which)
