"""A run's gallery (DIR/gallery.npz) and its kNN accuracy (DIR/knn.json), written at the run end.

The training works are embedded by the `checkpoint.select` checkpoint through the run's
evaluation view, the same pass (same jitted call) that scores them; validation images are
embedded in calibrate.py's validation pass, which hands them here for the kNN classifier
(k = 1, 5, 20 beside the head's accuracy on the same images, as big_vision's few-shot
evaluators report a frozen representation). A gallery belongs to one checkpoint step and view:
`load` refuses to mix it with embeddings of another (their spaces differ).
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
from PIL import Image

from artjax.data import catalog
from artjax.data.sources import Source
from artjax.eval import report
from artjax.eval.gallery import Gallery
from artjax.eval.inference import Classifier
from artjax.rundir import RunDir
from artjax.runs.restore import RestoredRun

THUMBNAIL_SIDE = 128  # px, the longest side of a work's thumbnail (export, serve)


class StaleGallery(ValueError):
    """The gallery was embedded by another checkpoint or view than the one asked for."""


def index_training_set(workdir: str, run: RestoredRun, classifier: Classifier, view: str) -> Gallery:
    """Embeds every readable training work with `classifier` (built with embed=True) and writes
    DIR/gallery.npz; unreadable works are left out (the caller's pass logs them)."""
    data = run.config.data
    train = catalog.open_sources(data)[0]
    seen = report.evaluate_source(classifier, train, transform=run.eval_transform(), image_size=data.image_size,
                                  view=view, errors=catalog.READ_ERRORS, split="training")
    gallery = Gallery(seen.embeddings, seen.labels, seen.ids, seen.indices, list(run.class_names), run.step, view)
    gallery.save(RunDir(workdir).gallery)
    return gallery


def load(workdir: str, *, step: int, view: str | None = None) -> Gallery | None:
    """The run's gallery (None when it has none); StaleGallery when it was embedded by another
    checkpoint step or (unless view is None) another view."""
    path = RunDir(workdir).gallery
    try:
        gallery = Gallery.load(path)
    except FileNotFoundError:
        return None
    if gallery.checkpoint_step != step or view not in (None, gallery.view):
        raise StaleGallery(f"the gallery of {workdir} was embedded by the checkpoint at step "
                           f"{gallery.checkpoint_step}, view {gallery.view}; these embeddings come from step {step}, "
                           f"view {view or gallery.view} (choose that checkpoint and view, or rerun the run's end to rebuild it)")
    return gallery


def work_image(train: Source, gallery: Gallery, i: int) -> np.ndarray:
    """Gallery work `i`'s image, read from the training source; ValueError when the source no
    longer holds it under the record id the gallery recorded (the data changed since the run)."""
    index, recorded = int(gallery.indices[i]), gallery.paths[i]
    if index >= len(train):
        raise ValueError(f"the training source has no record {index} any more")
    record = train.read(index)
    if str(record["id"]) != recorded:
        raise ValueError(f"record {index} of the training source is {record['id']}, not {recorded}")
    return record["image"]


def thumbnail_jpeg(image: np.ndarray) -> bytes:
    """A JPEG of `image` at most THUMBNAIL_SIDE px on its longest side (never enlarged)."""
    picture = Image.fromarray(image)
    picture.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE), Image.Resampling.LANCZOS)
    with io.BytesIO() as buffer:
        picture.save(buffer, format="JPEG", quality=85)
        return buffer.getvalue()


def write_knn(workdir: str, gallery: Gallery, known: report.Evaluation) -> dict[str, Any]:
    """kNN accuracies of the validation embeddings against the gallery, beside the head's."""
    record: dict[str, Any] = gallery.knn_accuracy(known.embeddings, known.labels)
    record.update(head_accuracy=float(np.mean(known.predictions == known.labels)), count=len(known.labels),
                  gallery_size=len(gallery), checkpoint_step=gallery.checkpoint_step, view=gallery.view,
                  metric="cosine", vote="uniform, ties to the lower class index")
    RunDir(workdir).write_knn(record)
    return record
