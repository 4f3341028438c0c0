"""A run's static HTML report: curves, confusion matrix, per-class table, confused pairs,
misclassified validation images and Grad-CAM heatmaps, in DIR/report/.

`evaluate_source` runs a restored classifier over the validation source once; the per-class
table, confusion matrix, gallery and predictions.csv all come from that pass, so they agree with
each other. Without it (no checkpoint, data not reachable) the table and matrix fall back to
the best logged validation record. `write_html` writes index.html with relative links only; a
missing piece becomes a note on the page, never an exception.
"""

from __future__ import annotations

import csv
import dataclasses
import html
import os
import shutil
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import jax
import numpy as np

from artjax import rundir
from artjax.eval import metrics, plots
from artjax.eval.gallery import Gallery
from artjax.eval.gradcam import gradcam
from artjax.eval.inference import Classifier, Transform, threaded_map

Record = dict[str, Any]


class NothingReadable(ValueError):
    """Not one record of a source could be read."""


@dataclasses.dataclass
class Evaluation:
    """A classifier's predictions on every readable record of a source."""

    indices: np.ndarray  # (N,) record indices into the source
    ids: list[str]
    labels: np.ndarray  # (N,) true classes
    probs: np.ndarray  # (N, classes)
    logits: np.ndarray  # (N, classes) Scores.logits, before any temperature
    skipped: list[str]  # reasons, naming the file, of unreadable records
    view: str
    embeddings: np.ndarray | None = None  # (N, width) with an embedding classifier (Classifier(embed=True))

    @property
    def predictions(self) -> np.ndarray:
        return self.probs.argmax(axis=1)

    def confusion(self, num_classes: int) -> np.ndarray:
        cells = np.bincount(self.labels * num_classes + self.predictions, minlength=num_classes**2)
        return cells.reshape(num_classes, num_classes)


def _readable(source: Any, errors: tuple[type[Exception], ...], skipped: list[str],
              threads: int) -> Iterator[tuple[int, dict[str, Any]]]:
    """(index, record) of every readable record, in order; unreadable ones go to `skipped`."""

    def read(index: int) -> tuple[int, dict[str, Any] | str]:
        try:
            return index, source.read(index)
        except errors as error:
            return index, str(error)

    for index, record in threaded_map(read, range(len(source)), threads=threads):
        if isinstance(record, str):
            skipped.append(record)
        else:
            yield index, record


def evaluate_source(classifier: Classifier, source: Any, *, transform: Transform, image_size: int, view: str,
                    errors: tuple[type[Exception], ...], threads: int = 4, split: str = "validation") -> Evaluation:
    """Predicts every record of `source` through `view` (`Classifier.predict`); unreadable
    records are listed, not fatal (NothingReadable when none is readable; `split` names the
    source in that message)."""
    skipped: list[str] = []
    records: dict[int, tuple[str, int]] = {}

    def images() -> Iterator[tuple[int, np.ndarray]]:
        for index, record in _readable(source, errors, skipped, threads):
            records[index] = (str(record["id"]), int(record["label"]))
            yield index, record["image"]

    indices, probs, logits, embeddings = [], [], [], []
    for index, prediction in classifier.predict(images(), view=view, transform=transform, image_size=image_size):
        indices.append(index)
        probs.append(prediction.probs)
        logits.append(prediction.logits)
        embeddings.append(prediction.embedding)
    if not indices:
        raise NothingReadable(f"no readable {split} image ({len(skipped)} unreadable)")
    return Evaluation(indices=np.asarray(indices), ids=[records[i][0] for i in indices],
                      labels=np.asarray([records[i][1] for i in indices]), probs=np.stack(probs),
                      logits=np.stack(logits), skipped=skipped, view=view,
                      embeddings=None if embeddings[0] is None else np.stack(embeddings))


def confused_pairs(confusion: np.ndarray, k: int = 5) -> list[tuple[int, int, int, float]]:
    """The k largest off-diagonal cells as (true, predicted, count, fraction of the true class)."""
    confusion = np.asarray(confusion, np.int64)
    off = confusion.copy()
    np.fill_diagonal(off, 0)
    order = np.argsort(-off, axis=None, kind="stable")[:k]
    totals = confusion.sum(axis=1)
    pairs = []
    for flat in order:
        true, pred = np.unravel_index(flat, off.shape)
        if off[true, pred] == 0:
            break
        pairs.append((int(true), int(pred), int(off[true, pred]), float(off[true, pred] / totals[true])))
    return pairs


def best_record(val: Sequence[Record], metric: str) -> Record | None:
    """The first validation record with the best `metric` (`metrics.is_better`: ties keep the first)."""
    best = None
    for record in val:
        if isinstance(record.get(metric), (int, float)) and (
                best is None or metrics.is_better(metric, record[metric], best[metric])):
            best = record
    return best


# --------------------------------------------------------------------------------- figures


@dataclasses.dataclass
class Figure:
    path: str  # relative to the report directory
    caption: str


def _fresh_dir(report_dir: str, name: str) -> None:
    """Empties a figure folder, so a rewritten report keeps no images of an earlier one."""
    shutil.rmtree(os.path.join(report_dir, name), ignore_errors=True)
    os.makedirs(os.path.join(report_dir, name))


def _short_id(record_id: str) -> str:
    """The last two parts of a record id: class folder and file name, or split and index."""
    return "/".join(record_id.replace(os.sep, "/").split("/")[-2:])


def _mistakes(evaluation: Evaluation, limit: int) -> np.ndarray:
    """The indices of the `limit` most confident mistakes, most confident first."""
    wrong = np.flatnonzero(evaluation.predictions != evaluation.labels)
    return wrong[np.argsort(-evaluation.probs[wrong].max(axis=1), kind="stable")][:limit]


def misclassified_gallery(evaluation: Evaluation, source: Any, class_names: Sequence[str], report_dir: str, *,
                          limit: int = 16) -> list[Figure]:
    """Thumbnails of the most confident mistakes (original images, not the model's input)."""
    _fresh_dir(report_dir, "misclassified")
    figures = []
    for rank, i in enumerate(_mistakes(evaluation, limit)):
        image = source.read(int(evaluation.indices[i]))["image"]
        path = f"misclassified/{rank:02d}.png"  # a URL: always "/"
        plots.save_thumbnail(image, os.path.join(report_dir, path))
        true, pred = evaluation.labels[i], evaluation.predictions[i]
        figures.append(Figure(path, f"{_short_id(evaluation.ids[i])}: true {class_names[true]} "
                                    f"({evaluation.probs[i, true]:.2f}), predicted {class_names[pred]} "
                                    f"({evaluation.probs[i, pred]:.2f})"))
    return figures


def mistake_neighbours(evaluation: Evaluation, gallery: Gallery, source: Any, train_source: Any, report_dir: str, *,
                       limit: int = 8, k: int = 3) -> list[list[Figure]]:
    """Per most confident mistake (as `misclassified_gallery` orders them, whose thumbnails it
    reuses): that thumbnail, then its k nearest training works of the gallery; the first four
    rows also as one figure, report/neighbours.png."""
    _fresh_dir(report_dir, "neighbours")
    chosen = _mistakes(evaluation, limit)
    rows, panels = [], []
    for rank, (i, nearest) in enumerate(zip(chosen, gallery.neighbours(evaluation.embeddings[chosen], k))):
        names = gallery.class_names
        true, predicted = names[evaluation.labels[i]], names[evaluation.predictions[i]]
        row = [Figure(f"misclassified/{rank:02d}.png", f"{_short_id(evaluation.ids[i])}: true {true}, "
                                                       f"predicted {predicted}")]
        works = []
        for j, work in enumerate(nearest):
            path = f"neighbours/{rank:02d}_{j}.png"
            image = train_source.read(int(gallery.indices[work["index"]]))["image"]
            plots.save_thumbnail(image, os.path.join(report_dir, path))
            row.append(Figure(path, f"{work['class']} ({work['similarity']:.3f}): {_short_id(work['path'])}"))
            works.append((image, f"{work['class']} ({work['similarity']:.2f})"))
        rows.append(row)
        panels.append((source.read(int(evaluation.indices[i]))["image"], f"true {true}\npredicted {predicted}", works))
    plots.neighbours_grid(panels[:4], os.path.join(report_dir, rundir.NEIGHBOURS_FIGURE))
    return rows


def gradcam_figures(model: Any, prepare: Callable[[jax.Array], jax.Array], evaluation: Evaluation, source: Any, *,
                    transform: Transform, class_names: Sequence[str], report_dir: str,
                    count: int = 4) -> list[Figure]:
    """Model input (the eval `transform` of the whole image) | Grad-CAM overlay of the predicted
    class, for the first `count` images."""
    chosen = np.arange(min(count, len(evaluation.indices)))
    inputs = np.stack([transform(source.read(int(evaluation.indices[i]))["image"], 0) for i in chosen])
    heatmaps, _ = gradcam(model, prepare(inputs), evaluation.predictions[chosen])
    _fresh_dir(report_dir, "gradcam")
    figures = []
    for k, i in enumerate(chosen):
        panel = np.concatenate([inputs[k], plots.heatmap_overlay(inputs[k], heatmaps[k])], axis=1)
        path = f"gradcam/{k:02d}.png"
        plots.save_thumbnail(panel, os.path.join(report_dir, path), size=384)
        true, pred = evaluation.labels[i], evaluation.predictions[i]
        flat = ""
        if np.ptp(heatmaps[k]) < 1e-6:  # small images can leave a 1x1 map: nothing spatial to show
            flat = " (uniform: e.g. a 1x1 feature map)" if heatmaps[k].max() > 0 else " (no location supports it)"
        figures.append(Figure(path, f"{_short_id(evaluation.ids[i])}: true {class_names[true]}, heatmap of the "
                                    f"prediction {class_names[pred]} ({evaluation.probs[i, pred]:.2f}){flat}"))
    return figures


def write_predictions(evaluation: Evaluation, class_names: Sequence[str], path: str) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["index", "id", "true", "predicted", "prob"])
        for i, index in enumerate(evaluation.indices):
            pred = evaluation.predictions[i]
            writer.writerow([int(index), evaluation.ids[i], class_names[evaluation.labels[i]], class_names[pred],
                             f"{evaluation.probs[i, pred]:.6f}"])


# ------------------------------------------------------------------------------------ HTML

STYLE = """body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:0.5em 0}th,td{border:1px solid #ccc;padding:3px 8px}
td.n{text-align:right;font-variant-numeric:tabular-nums}.note{background:#fff6d5;padding:0.5em 1em}
figure{display:inline-block;margin:0.4em;vertical-align:top}figcaption{font-size:0.85em}
figure.curve{width:520px}figure.thumb{width:200px}figure.cam{width:400px}img{max-width:100%}
figure.thumb img{max-height:200px}"""


def _e(text: Any) -> str:
    return html.escape(str(text))


def _image(path: str, alt: str) -> str:
    return f'<a href="{_e(path)}"><img src="{_e(path)}" alt="{_e(alt)}"></a>'


def _figures(figures: Sequence[Figure], kind: str) -> str:
    return "".join(f'<figure class="{kind}">{_image(f.path, f.caption)}<figcaption>{_e(f.caption)}</figcaption>'
                   "</figure>" for f in figures)


def _class_table_html(scores: dict[str, Any], class_names: Sequence[str]) -> str:
    """scikit-learn's classification report, from `metrics.summarize_confusion` (or `summarize`)."""
    rows = ['<table id="per-class"><tr><th>class</th><th>precision</th><th>recall</th><th>f1-score</th>'
            '<th>support</th></tr>']
    per_class = scores["per_class"]
    for i, name in enumerate(class_names):
        cells = "".join(f'<td class="n">{per_class[k][i]:.4f}</td>' for k in ("precision", "recall", "f1"))
        rows.append(f"<tr><th>{_e(name)}</th>{cells}<td class=\"n\">{int(per_class['support'][i])}</td></tr>")
    total = int(sum(per_class["support"]))
    rows.append(f'<tr><th>accuracy</th><td></td><td></td><td class="n">{scores["accuracy"]:.4f}</td>'
                f'<td class="n">{total}</td></tr>')
    for average in ("macro", "weighted"):
        cells = "".join(f'<td class="n">{scores[f"{average}_{k}"]:.4f}</td>' for k in ("precision", "recall", "f1"))
        rows.append(f'<tr><th>{average} avg</th>{cells}<td class="n">{total}</td></tr>')
    return "".join(rows) + "</table>"


def _top2_html(top2: dict[str, float], origin: str) -> str:
    """Jangtjik et al.'s Table 1(b) columns (definitions: artjax.eval.metrics)."""
    cells = "".join(f'<td class="n">{top2[k]:.2%}</td>' for k in metrics.TOP2_KEYS[1:])
    return ('<h2>Top-2 precision, recall, F</h2><table id="top2"><tr><th>top-2 accuracy</th><th>macro precision'
            f'</th><th>macro recall</th><th>F</th></tr><tr><td class="n">{top2["top2_accuracy"]:.2%}</td>{cells}'
            f'</tr></table><p>{_e(origin)}. An image counts as correct when its true class is among its two '
            "highest scores, else as predicted by its top-1 class; precision and recall per class, "
            "macro-averaged; F = 2PR / (P + R) of the two averages, as Table 1(b) of Jangtjik, Yeh &amp; "
            "Hua (2016).</p>")

def classification_report_text(scores: dict[str, Any], class_names: Sequence[str]) -> str:
    """scikit-learn's classification_report layout, from `metrics.summarize_confusion`."""
    width = max(len("weighted avg"), *(len(n) for n in class_names))
    per_class = scores["per_class"]
    lines = [f"{'':>{width}}  precision    recall  f1-score   support", ""]
    for i, name in enumerate(class_names):
        values = "".join(f"{per_class[k][i]:>10.4f}" for k in ("precision", "recall", "f1"))
        lines.append(f"{name:>{width}}{values}{int(per_class['support'][i]):>10}")
    total = int(sum(per_class["support"]))
    lines += ["", f"{'accuracy':>{width}}{'':>20}{scores['accuracy']:>10.4f}{total:>10}"]
    for average in ("macro", "weighted"):
        values = "".join(f"{scores[f'{average}_{k}']:>10.4f}" for k in ("precision", "recall", "f1"))
        lines.append(f"{average + ' avg':>{width}}{values}{total:>10}")
    return "\n".join(lines)


def _pairs_html(pairs: Sequence[tuple[int, int, int, float]], class_names: Sequence[str]) -> str:
    rows = ['<table id="confused-pairs"><tr><th>true</th><th>predicted as</th><th>count</th>'
            '<th>of the true class</th></tr>']
    rows += [f'<tr><td>{_e(class_names[t])}</td><td>{_e(class_names[p])}</td><td class="n">{n}</td>'
             f'<td class="n">{share:.1%}</td></tr>' for t, p, n, share in pairs]
    return "".join(rows) + "</table>"


@dataclasses.dataclass
class ReportContent:
    """Everything index.html shows; None / empty members are reported as missing."""

    title: str
    summary: list[tuple[str, str]]
    class_names: list[str]
    curves: list[Figure] | None  # None: a page without training curves (the test set's)
    confusion: np.ndarray | None
    confusion_origin: str  # which predictions the matrix and table come from
    gallery: list[Figure] | None
    cams: list[Figure] | None
    links: list[tuple[str, str]]  # (relative path, label)
    notes: list[str]
    top2: dict[str, float] | None = None  # metrics.TOP2_KEYS of the same predictions as the matrix
    top2_origin: str = ""
    neighbours: list[list[Figure]] | None = None  # per mistake: it, then its nearest training works
    knn: dict[str, Any] | None = None  # DIR/knn.json


def render_curves(train: Sequence[Record], val: Sequence[Record], report_dir: str) -> tuple[list[Figure], list[str]]:
    """The loss, score and learning-rate PNGs, with a note for each that has no data."""
    figures, notes = [], []
    for name, draw, caption in (
            ("loss.png", lambda p: plots.plot_loss(train, val, p), "loss: training (logged steps), validation"),
            ("scores.png", lambda p: plots.plot_scores(val, p), "validation accuracy and macro-F1"),
            ("learning_rate.png", lambda p: plots.plot_learning_rate(train, p), "learning rate")):
        if draw(os.path.join(report_dir, name)):
            figures.append(Figure(name, caption))
        else:
            notes.append(f"no data for the {caption} curve")
    return figures, notes


def write_html(report_dir: str, content: ReportContent, *, name: str = rundir.REPORT_INDEX,
               confusion_name: str = "confusion.png") -> str:
    """Writes the confusion figure and the page `name` into `report_dir`; returns the page's path."""
    names = content.class_names
    parts = [f"<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{_e(content.title)}</title>"
             f"<style>{STYLE}</style></head><body><h1>{_e(content.title)}</h1>"]
    parts.append("<table id=\"summary\">" + "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>"
                                                    for k, v in content.summary) + "</table>")
    notes = list(content.notes)
    if content.curves is not None:
        parts.append("<h2>Training curves</h2>" + _figures(content.curves, "curve"))
    parts.append("<h2>Confusion matrix</h2>")
    if content.confusion is not None:
        plots.plot_confusion(content.confusion, names, os.path.join(report_dir, confusion_name))
        parts.append(f"<p>{_e(content.confusion_origin)}; rows are normalised by the true class.</p>"
                     + _image(confusion_name, "normalised confusion matrix"))
        parts.append("<h2>Per-class precision, recall, F1</h2>"
                     + _class_table_html(metrics.summarize_confusion(content.confusion), names)
                     + "<p>Macro average over the classes present in the labels or predictions.</p>")
        if content.top2 is not None and len(names) > 2:
            parts.append(_top2_html(content.top2, content.top2_origin))
        parts.append("<h2>Most confused pairs</h2>")
        pairs = confused_pairs(content.confusion)
        parts.append(_pairs_html(pairs, names) if pairs else "<p>No misclassification.</p>")
    else:
        notes.append("no confusion matrix: neither a restored model nor a validation record has one")
    if content.gallery is not None:
        shown = ("<p>Most confident mistakes first; probabilities in brackets.</p>"
                 + _figures(content.gallery, "thumb")) if content.gallery else "<p>None.</p>"
        parts.append("<h2>Misclassified validation images</h2>" + shown)
    if content.knn is not None or content.neighbours is not None:
        parts.append("<h2>Nearest training works</h2>")
    if content.knn is not None:
        knn = content.knn
        rows = [("the head", knn["head_accuracy"])] + [(f"kNN, k = {name[4:]}", value)
                                                       for name, value in knn.items() if name.startswith("knn_")]
        parts.append(f"<p>Accuracy on {knn['count']} validation images: the classifier's head beside a vote of "
                     f"the k most similar (cosine) of the {knn['gallery_size']} training works' embeddings "
                     f"(step {knn['checkpoint_step']}, view {_e(knn['view'])}).</p><table id=\"knn\">"
                     + "".join(f'<tr><th>{_e(label)}</th><td class="n">{value:.4f}</td></tr>' for label, value in rows)
                     + "</table>")
    if content.neighbours:
        parts.append("<p>Each misclassified image (left), then the training works closest to it.</p>"
                     + "".join(f'<div class="neighbours">{_figures(row, "thumb")}</div>' for row in content.neighbours))
    if content.cams:
        parts.append("<h2>Grad-CAM</h2><p>Left: the model's input; right: where the evidence for the "
                     "predicted class lies (red = strongest).</p>" + _figures(content.cams, "cam"))
    if name == rundir.REPORT_INDEX and os.path.exists(os.path.join(report_dir, rundir.RESIZER_FIGURE)):
        parts.append("<h2>Resizer</h2>" + _image(rundir.RESIZER_FIGURE, "Resizer input and output"))
    if content.links:
        parts.append("<h2>Files</h2><ul>" + "".join(f'<li><a href="{_e(p)}">{_e(label)}</a></li>'
                                                    for p, label in content.links) + "</ul>")
    if notes:
        parts.insert(2, "<div class=\"note\"><b>Not in this report:</b><ul>"
                     + "".join(f"<li>{_e(n)}</li>" for n in notes) + "</ul></div>")
    parts.append("</body></html>\n")
    path = os.path.join(report_dir, name)
    with open(path, "w") as f:
        f.write("".join(parts))
    return path
