"""The end of a run's evidence about its probabilities: temperature scaling fitted on the
validation set (DIR/calibration.json) and the unknown-artist threshold (DIR/openset.json).

Both come from one pass of the `checkpoint.select` checkpoint over the validation set, through
the run's evaluation view (`report.evaluate_source`, the path of the report and `evaluate`).
The logits fitted are `Scores.logits`: the model's own for the `full` view, the log of the
combined probabilities for a multi-crop view (so T rescales the probabilities the view
reports). A calibration belongs to one checkpoint step: `temperature` returns it only for that
step; for another it gives T = 1 (uncalibrated) marked stale, and predict and evaluate warn:
a stale T is never used (refitting needs the validation data, which a predicting machine may
not have; the next run end or `calibrate_run` refits).

Open set: scores (eval.openset_score) on the known validation images fix the threshold at
95 % true-accept; with data.holdout_classes the held-out classes' validation images are the
unknowns for AUROC and the false-accept rate at that threshold.

With eval.gallery the same classifier also embeds: the training set first (DIR/gallery.npz,
runs/gallery.py), then the validation pass's embeddings give the kNN accuracies (DIR/knn.json)
and the `gallery` open-set score (similarity to the nearest training work).
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import numpy as np
from absl import logging

from artjax.data import catalog
from artjax.eval import calibration, openset, plots, report
from artjax import rundir
from artjax.rundir import RunDir
from artjax.runs import gallery as run_gallery
from artjax.runs.restore import load_run


@dataclasses.dataclass
class Temperature:
    value: float  # 1.0 when uncalibrated
    note: str  # how predict / evaluate describe it
    stale: bool = False  # calibration.json exists but for another checkpoint: callers warn


def temperature(workdir: str, step: int) -> Temperature:
    """The run's calibrated T for the checkpoint at `step` (export and serving call this too)."""
    record = RunDir(workdir).read_calibration()
    if record is None:
        return Temperature(1.0, "uncalibrated (no calibration.json)")
    if record["checkpoint_step"] != step:
        message = (f"calibration.json was fitted for the checkpoint at step {record['checkpoint_step']}, not "
                   f"step {step}: probabilities are uncalibrated")
        return Temperature(1.0, f"UNCALIBRATED ({message})", stale=True)
    return Temperature(float(record["temperature"]), f"calibrated, temperature {record['temperature']:.4f}")


CALIBRATION_METRICS = ("temperature", "nll_before", "nll_after", "ece_before", "ece_after")
OPENSET_METRICS = ("threshold", "tar", "auroc", "far_at_95_tar")


def calibrate_run(workdir: str, *, which: str | None = None, batch_size: int = 32) -> dict[str, Any]:
    """Fits T and the open-set threshold for the `which` checkpoint (None: checkpoint.select);
    writes calibration.json, openset.json and report/reliability.png, and with eval.gallery
    gallery.npz and knn.json; returns the records ('knn' None without a gallery)."""
    run = load_run(workdir, which=which)
    classifier = run.classifier(batch_size=batch_size, embed=run.config.eval.gallery)
    view, data = run.eval_view, run.config.data
    gallery = run_gallery.index_training_set(workdir, run, classifier, view) if run.config.eval.gallery else None
    known_source = catalog.open_sources(data)[1]
    evaluate = dict(transform=run.eval_transform(), image_size=data.image_size, view=view,
                    errors=catalog.READ_ERRORS)
    known = report.evaluate_source(classifier, known_source, **evaluate)

    def context(evaluation: report.Evaluation) -> dict[str, Any]:
        return {} if gallery is None else {"gallery_similarity": gallery.search(evaluation.embeddings, 1)[1][:, 0]}

    fit = calibration.fit_temperature(known.logits, known.labels)
    if fit.at_bound:
        logging.warning("the fitted temperature %.4g lies on the edge of the searched range %s",
                        fit.temperature, calibration.T_RANGE)
    before = calibration.softmax(known.logits)
    after = calibration.softmax(known.logits, fit.temperature)
    run_dir = RunDir(workdir)
    cal = {"temperature": fit.temperature, "checkpoint_step": run.step, "checkpoint": run.which or "chosen",
           "view": view, "fitted_on": "validation", "count": len(known.labels), "nll_before": fit.nll_before,
           "nll_after": fit.nll_after, "ece_before": calibration.ece(before, known.labels),
           "ece_after": calibration.ece(after, known.labels), "bins": calibration.BINS,
           "reliability_before": calibration.reliability(before, known.labels),
           "reliability_after": calibration.reliability(after, known.labels)}
    run_dir.write_calibration(cal)
    os.makedirs(run_dir.report, exist_ok=True)
    plots.reliability_diagram(cal, run_dir.report_file(rundir.RELIABILITY_FIGURE))

    name = run.config.eval.openset_score
    known_scores = openset.score(name, known.logits, context(known))
    threshold = openset.threshold_at_tar(known_scores)
    record: dict[str, Any] = {"score": name, "threshold": threshold, "tar": float(np.mean(known_scores >= threshold)),
                              "target_tar": openset.TAR, "checkpoint_step": run.step, "view": view,
                              "counts": {"known": len(known_scores), "unknown": 0}}
    unknown_source = catalog.open_unknown(data)
    if unknown_source is not None:
        unknown = report.evaluate_source(classifier, unknown_source, **evaluate, split="unknown")
        unknown_scores = openset.score(name, unknown.logits, context(unknown))
        record.update(holdout_classes=list(unknown_source.class_names), counts={"known": len(known_scores),
                                                                               "unknown": len(unknown_scores)},
                      auroc=openset.auroc(known_scores, unknown_scores),
                      far_at_95_tar=openset.false_accept_rate(unknown_scores, threshold))
    run_dir.write_openset(record)
    # The headline figures in metrics.jsonl too, for whoever reads the run's metrics alone.
    run_dir.replace_metrics({"split": "calibration", "step": run.step, **{k: cal[k] for k in CALIBRATION_METRICS}})
    run_dir.replace_metrics({"split": "openset", "step": run.step, "score": name,
                             **{k: record[k] for k in OPENSET_METRICS if k in record}})
    knn = run_gallery.write_knn(workdir, gallery, known) if gallery is not None else None
    return {"calibration": cal, "openset": record, "knn": knn}


def describe(records: dict[str, Any]) -> str:
    """One line per record, as the end of a run prints them."""
    c, o = records["calibration"], records["openset"]
    lines = [f"calibration: temperature {c['temperature']:.4f} on {c['count']} validation images: NLL "
             f"{c['nll_before']:.4f} -> {c['nll_after']:.4f}, ECE {c['ece_before']:.4f} -> {c['ece_after']:.4f}"]
    line = f"unknown artist: {o['score']} threshold {o['threshold']:.4f} (true-accept {o['tar']:.3f})"
    if "auroc" in o:
        line += (f"; {o['counts']['unknown']} images of held-out classes: AUROC {o['auroc']:.4f}, "
                 f"false-accept {o['far_at_95_tar']:.4f} at 95 % true-accept")
    lines.append(line)
    if records.get("knn"):
        k = records["knn"]
        lines.append(f"kNN on the gallery of {k['gallery_size']} training works: " + ", ".join(
            f"k={name[4:]} {value:.4f}" for name, value in k.items() if name.startswith("knn_"))
            + f" (the head: {k['head_accuracy']:.4f}) on {k['count']} validation images")
    return "\n".join(lines)
