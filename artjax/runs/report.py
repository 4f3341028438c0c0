"""A run's HTML report, DIR/report/index.html, from its logged metrics and a restored model.

What cannot be made (no checkpoint yet, validation data no longer reachable) is listed on the
page instead: a report must not take down the run it describes.
"""

from __future__ import annotations

import os
from typing import Any

import ml_collections
from absl import logging

from artjax.config import ConfigError, load_saved_config
from artjax.data import catalog
from artjax.eval import metrics, report
from artjax import rundir
from artjax.rundir import RunDir
from artjax.runs import gallery as run_gallery
from artjax.runs.restore import load_run


def _summary(workdir: str, config: ml_collections.ConfigDict | None, val: list[dict[str, Any]],
             best: dict[str, Any] | None, restored: str) -> list[tuple[str, str]]:
    rows = [("run", os.path.abspath(workdir))]
    if config is not None:
        rows += [("model", f"{config.model.name} (head {config.model.head.kind}, weights "
                           f"{config.model.weights or 'random init'})"),
                 ("data", f"{config.data.source}, {config.data.image_size} px, augmentation {config.data.augment}"),
                 ("training", f"{config.train.epochs} epochs, batch {config.train.batch_size}, "
                              f"{config.optimizer.name} lr {config.optimizer.learning_rate:g}, "
                              f"schedule {config.schedule.name}")]
    shown = ("loss", "accuracy", "macro_f1", "top5_accuracy")
    for label, record in (("last evaluation", val[-1] if val else None), ("best evaluation", best)):
        if record is not None:
            values = ", ".join(f"{k} {record[k]:.4f}" for k in shown if k in record)
            rows.append((label, f"epoch {record.get('epoch')}, step {record.get('step')}: {values}"))
    rows.append(("model for the images below", restored))
    test = RunDir(workdir).read_test_metrics()
    if test is not None:
        rows.append(("test set", f"{test['test_set']}: accuracy {test['accuracy']:.4f}, macro-F1 "
                                 f"{test['macro_f1']:.4f} on {test['count']} images ({test['checkpoint']} "
                                 f"checkpoint, step {test['step']}, view {test['view']})"))
    cal = RunDir(workdir).read_calibration()
    if cal is not None:
        rows.append(("calibration (temperature scaling on validation)",
                     f"T = {cal['temperature']:.4f} for the {cal['checkpoint']} checkpoint, step "
                     f"{cal['checkpoint_step']}, view {cal['view']}, {cal['count']} images: NLL "
                     f"{cal['nll_before']:.4f} -> {cal['nll_after']:.4f}, "
                     f"ECE ({cal['bins']} bins) {cal['ece_before']:.4f} -> {cal['ece_after']:.4f} "
                     f"(reliability diagram: {rundir.RELIABILITY_FIGURE})"))
    unknown = RunDir(workdir).read_openset()
    if unknown is not None:
        text = (f"{unknown['score']} below {unknown['threshold']:.4f} is rejected (true-accept "
                f"{unknown['tar']:.3f} of {unknown['counts']['known']} known validation images)")
        if "auroc" in unknown:
            text += (f"; held-out classes {', '.join(unknown['holdout_classes'])} ({unknown['counts']['unknown']} "
                     f"images): AUROC {unknown['auroc']:.4f}, false-accept rate {unknown['far_at_95_tar']:.4f} "
                     f"at 95 % true-accept")
        rows.append(("unknown artist", text))
    selection = RunDir(workdir).read_class_selection()
    if selection is not None:  # data.top_classes: which classes, how many works each (train/val)
        kept = selection["classes"]
        rows.append((f"classes (top {selection['top_classes']} of {selection['classes_in_data']:,} by works)",
                     ", ".join(f"{c['name']} {c['works']:,} ({c['train']:,}/{c['val']:,})" for c in kept)))
    return rows


def write_report(workdir: str, *, which: str | None = None, step: int | None = None, gallery_size: int = 16,
                 gradcam_count: int = 4, batch_size: int = 32) -> str:
    """Writes DIR/report/ (index.html and its PNGs) from the `which` checkpoint (None: the one
    the run's checkpoint.select names), or the one of `step`, and returns the path of index.html."""
    if not os.path.isdir(workdir):
        raise FileNotFoundError(f"{workdir}: no such run directory")
    run_dir = RunDir(workdir)
    report_dir = run_dir.report
    os.makedirs(report_dir, exist_ok=True)
    records = run_dir.read_metrics()
    train = [r for r in records if r.get("split") == "train"]
    val = [r for r in records if r.get("split") == "val"]
    curves, notes = report.render_curves(train, val, report_dir)
    config = None
    try:
        config = load_saved_config(run_dir.config)
    except (FileNotFoundError, ConfigError) as error:
        notes.append(f"no run configuration ({error})")
    best = report.best_record(val, config.checkpoint.best_metric if config is not None else "accuracy")
    class_names: list[str] = run_dir.read_classes()[0] if os.path.exists(run_dir.classes) else []

    confusion, origin, gallery, cams, restored = None, "", None, None, "none (see the notes)"
    neighbours = None
    top2: dict[str, Any] | None = None
    top2_origin = ""
    links = [(f"../{name}", name) for name in (rundir.CONFIG, rundir.METRICS)
             if os.path.exists(os.path.join(workdir, name))]
    if os.path.exists(run_dir.report_file(rundir.RELIABILITY_FIGURE)):
        links.append((rundir.RELIABILITY_FIGURE, f"{rundir.RELIABILITY_FIGURE} (reliability diagram, before and "
                                                 f"after temperature scaling)"))
    if os.path.exists(run_dir.test_report):
        links.append((rundir.TEST_REPORT, f"{rundir.TEST_REPORT} (the labelled test set)"))
    # A report must not take down the run it describes: every piece that needs the checkpoint
    # or the data is attempted on its own, and a failure becomes a note on the page.
    try:
        run = load_run(workdir, which=which, step=step)
        class_names = run.class_names
        data = run.config.data
        transform = run.eval_transform()
        train_source, source = catalog.open_sources(data)
        view = run.eval_view  # crops scored per painting, as validation scored them
        try:
            works = run_gallery.load(workdir, step=run.step, view=view)
        except run_gallery.StaleGallery as error:
            works = None
            notes.append(f"no nearest training works: {error}")
        classifier = run.classifier(batch_size=batch_size, embed=works is not None)
        evaluation = report.evaluate_source(classifier, source, transform=transform, image_size=data.image_size,
                                            view=view, errors=catalog.READ_ERRORS)
    except Exception as error:  # noqa: BLE001 - see above
        logging.warning("report: no validation predictions", exc_info=True)
        notes.append(f"no validation predictions ({type(error).__name__}: {error}); the confusion matrix and "
                     f"table come from the logged metrics, without gallery and Grad-CAM")
    else:
        restored = run.checkpoint_name
        confusion = evaluation.confusion(len(class_names))
        origin = (f"{len(evaluation.labels)} validation images predicted by the {restored} "
                  f"(view {evaluation.view})")
        top2 = metrics.summarize_probabilities(evaluation.probs, evaluation.labels)
        top2_origin = origin
        if evaluation.skipped:
            notes.append(f"{len(evaluation.skipped)} unreadable validation image(s) skipped, e.g. "
                         f"{evaluation.skipped[0]}")
        report.write_predictions(evaluation, class_names, run_dir.predictions)
        links.append((rundir.PREDICTIONS, f"{rundir.PREDICTIONS} (every validation image)"))
        gallery = report.misclassified_gallery(evaluation, source, class_names, report_dir, limit=gallery_size)
        try:
            if works is not None:
                neighbours = report.mistake_neighbours(evaluation, works, source, train_source, report_dir,
                                                       limit=min(gallery_size, 8))
        except Exception as error:  # noqa: BLE001 - see above
            logging.warning("report: no nearest training works", exc_info=True)
            notes.append(f"no nearest training works ({type(error).__name__}: {error})")
        if neighbours:
            links.append((rundir.NEIGHBOURS_FIGURE, f"{rundir.NEIGHBOURS_FIGURE} (mistakes beside their nearest "
                                                    f"training works)"))
        try:
            # A pyramid model explains through its backbone, on the whole image.
            model = run.model.backbone if hasattr(run.model, "levels") else run.model
            cams = report.gradcam_figures(model, run.prepare(), evaluation, source, transform=transform,
                                          class_names=class_names, report_dir=report_dir, count=gradcam_count)
        except Exception as error:  # noqa: BLE001 - see above
            logging.warning("report: no Grad-CAM", exc_info=True)
            notes.append(f"no Grad-CAM ({type(error).__name__}: {error})")
    if confusion is None:
        logged = best or (val[-1] if val else None)
        if logged and "confusion_matrix" in logged:
            confusion = logged["confusion_matrix"]
            origin = f"logged validation metrics of epoch {logged.get('epoch')} (step {logged.get('step')})"
            if all(k in logged for k in metrics.TOP2_KEYS):
                top2, top2_origin = logged, origin
            class_names = class_names or logged.get("per_class", {}).get("name") or \
                [str(i) for i in range(len(confusion))]

    content = report.ReportContent(
        title=f"artjax report: {os.path.basename(os.path.abspath(workdir))}",
        summary=_summary(workdir, config, val, best, restored), class_names=class_names, curves=curves,
        confusion=confusion, confusion_origin=origin, gallery=gallery, cams=cams, links=links, notes=notes,
        top2=None if top2 is None else {k: top2[k] for k in metrics.TOP2_KEYS}, top2_origin=top2_origin,
        neighbours=neighbours, knn=run_dir.read_knn())
    return report.write_html(report_dir, content)
