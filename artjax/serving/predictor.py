"""What the web app asks of a model: one decoded painting in, the evidence for its artist out.

`Predictor` is the protocol `artjax.serving.app` serves. Two implementations:

- `LivePredictor(workdir, which="best")`: a run directory's checkpoint (`load_run`) through its
  `Classifier` with the run's calibrated temperature (`calibrate.temperature`), exactly what
  `python -m artjax.predict --workdir DIR` computes for the same file (the run's default view:
  `full`, or `pyramid` for a pyramid model). The quadrant votes are the `quadrants` view of
  `artjax/eval/views.py`; Grad-CAM explains the top class on the evaluation transform's image.
  With the run's gallery (DIR/gallery.npz of that checkpoint) it also answers the nearest
  training works, as `predict --neighbours K` lists them, and their thumbnails, cut from the
  training images on demand.
- `ExportedPredictor(model)`: an exported model (`artjax.serving.load`), which sees the image
  through the export's own `prepare`; neighbours and thumbnails come from the export's gallery.

A work is named by its row in the gallery (an integer `id`): the thumbnail route takes that
number, never a path.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np
from absl import logging

from artjax.config import defaults
from artjax.data import views as geometry
from artjax.eval import calibration
from artjax.eval.gradcam import gradcam
from artjax.eval.inference import Prediction, default_view
from artjax.data import catalog
from artjax.eval.gallery import Gallery
from artjax.runs import calibrate
from artjax.runs import gallery as run_gallery
from artjax.runs.restore import load_run
from artjax.serving.exported import ExportedModel, load

QUADRANTS = ("top-left", "top-right", "bottom-left", "bottom-right")  # artjax.data.views.quadrants' order
BATCH_SIZE = 32  # predict's default: the same jitted shapes, so the same numbers
THUMBNAILS_KEPT = 256  # thumbnails a live predictor keeps decoded in memory


class ModelUnavailable(Exception):
    """A model directory that cannot be served (the message is one line)."""


@dataclasses.dataclass
class Answer:
    probs: np.ndarray  # (classes,) the image's probabilities, temperature-scaled
    votes: list[tuple[int, float]] | None  # per quadrant (QUADRANTS order): its top class and probability
    seen: np.ndarray  # (S, S, 3) uint8: the image as the model saw it (the Grad-CAM's background)
    heatmap: np.ndarray | None  # (S, S) in [0, 1]: Grad-CAM of the top class; None when the model has none
    # The nearest training works, nearest first: {"class", "similarity" (cosine), "id" (gallery row),
    # "thumbnail" (the app's URL for it, or None)}; None without a gallery.
    neighbours: list[dict[str, Any]] | None


class Predictor(Protocol):
    class_names: Sequence[str]
    temperature: float  # 1.0 when uncalibrated
    calibration: str  # how the probabilities are calibrated, in words
    checkpoint: str  # which weights answer, e.g. 'best checkpoint, step 12'
    max_pixels: int  # decoding's decompression-bomb limit (data.max_pixels)
    draft_size: int | None  # decoding's reduced-size JPEG decode (data.decode_short_side)

    def predict(self, rgb: np.ndarray, neighbours: int) -> Answer:
        """A decoded HxWx3 uint8 RGB image -> its Answer, with its `neighbours` nearest training
        works when the model has a gallery."""

    def thumbnail(self, work_id: int) -> bytes | None:
        """Gallery work `work_id`'s JPEG thumbnail, or None (no gallery, no such work, unreadable)."""


def thumbnail_url(work_id: int) -> str:
    return f"/thumbnails/{work_id}.jpg"  # the app's route (artjax/serving/app.py)


def quarter_votes(crop_probs: np.ndarray) -> list[tuple[int, float]]:
    """(4, classes) quarter probabilities -> per quarter (its top class, that probability)."""
    top = crop_probs.argmax(axis=1)
    return [(int(c), float(crop_probs[i, c])) for i, c in enumerate(top)]


class LivePredictor:
    """A run directory's checkpoint, as `python -m artjax.predict --workdir DIR` sees it."""

    def __init__(self, workdir: str, which: str = "best") -> None:
        run = load_run(workdir, which=which)
        calibrated = calibrate.temperature(workdir, run.step)
        if calibrated.stale:
            logging.warning("%s", calibrated.note)
        self._view = default_view(run.model)  # predict's view without --view and --neighbours
        self._gallery = self._open_gallery(workdir, run.step)
        self._classifier = run.classifier(batch_size=BATCH_SIZE, temperature=calibrated.value,
                                          embed=self._gallery is not None)
        self._transform = run.eval_transform()
        self._prepare = run.prepare()
        # A pyramid model explains through its backbone, as the report does.
        self._explained = run.model.backbone if self._classifier.levels is not None else run.model
        data = self._data = run.config.data
        self._image_size = data.image_size
        self.thumbnail = functools.lru_cache(maxsize=THUMBNAILS_KEPT)(self._thumbnail)
        self.class_names = list(run.class_names)
        self.temperature = calibrated.value
        self.calibration = calibrated.note
        self.checkpoint = run.checkpoint_name
        self.max_pixels = data.max_pixels
        self.draft_size = data.decode_short_side or None

    def _predict(self, rgb: np.ndarray, view: str) -> Prediction:
        [(_, prediction)] = self._classifier.predict([(0, rgb)], view=view, transform=self._transform,
                                                     image_size=self._image_size)
        return prediction

    @staticmethod
    def _open_gallery(workdir: str, step: int) -> Gallery | None:
        try:
            return run_gallery.load(workdir, step=step)
        except run_gallery.StaleGallery as error:  # served without neighbours, as predict refuses --neighbours
            logging.warning("no nearest training works: %s", error)
            return None

    def _neighbours(self, rgb: np.ndarray, prediction: Prediction, k: int) -> list[dict[str, Any]] | None:
        if self._gallery is None or k < 1:
            return None
        # predict --neighbours embeds through the gallery's view; the default view's pass serves when they agree
        embedding = prediction.embedding if self._gallery.view == self._view \
            else self._predict(rgb, self._gallery.view).embedding
        return [{"class": n["class"], "similarity": n["similarity"], "id": n["index"],
                 "thumbnail": thumbnail_url(n["index"])} for n in self._gallery.neighbours(embedding, k)[0]]

    def _thumbnail(self, work_id: int) -> bytes | None:
        if self._gallery is None or not 0 <= work_id < len(self._gallery):
            return None
        try:
            return run_gallery.thumbnail_jpeg(run_gallery.work_image(self._training_source(), self._gallery, work_id))
        except (*catalog.READ_ERRORS, OSError, ValueError) as error:  # the data moved or changed since the run
            logging.warning("no thumbnail for gallery work %d (%s): %s", work_id, self._gallery.paths[work_id], error)
            return None

    @functools.cache
    def _training_source(self) -> catalog.Source:
        return catalog.open_sources(self._data)[0]

    def predict(self, rgb: np.ndarray, neighbours: int) -> Answer:
        prediction = self._predict(rgb, self._view)
        votes = None
        if self._classifier.levels is None:  # a pyramid model combines its crops itself: no quarter scores
            quarters = self._predict(rgb, "quadrants").crop_probs
            # The quarters' own probabilities, scaled by the run's T as the image's are: log p differs
            # from the logits by a constant per crop, which the softmax cancels.
            with np.errstate(divide="ignore"):
                votes = quarter_votes(calibration.softmax(np.log(quarters), self.temperature))
        seen = self._transform(rgb, 0)
        top = int(np.argmax(prediction.probs))
        try:
            heatmaps, _ = gradcam(self._explained, self._prepare(seen[None]), np.array([top]))
            heatmap = heatmaps[0]
        except ValueError as error:  # a model whose pooled features are not its map's mean
            logging.warning("no Grad-CAM: %s", error)
            heatmap = None
        return Answer(prediction.probs, votes, seen, heatmap, self._neighbours(rgb, prediction, neighbours))


class ExportedPredictor:
    """An exported model (`artjax.serving.load(MODEL_DIR)`, an `ExportedModel`). The quadrant
    votes are the four quarters of the decoded image resized to S (the `quadrants` view's cut)
    through the exported program; a pyramid model has none, as live."""

    def __init__(self, model: ExportedModel) -> None:
        self._model, data = model, defaults().data
        self.class_names = list(model.class_names)
        self.temperature = float(model.temperature)
        self.calibration = f"calibrated, temperature {self.temperature:.4f}" if self.temperature != 1.0 \
            else "as exported (temperature 1)"
        self.checkpoint = str(model.manifest.get("checkpoint", "exported model"))
        self.max_pixels = int(model.manifest.get("max_pixels", data.max_pixels))
        self.draft_size = int(model.manifest.get("decode_short_side", 0)) or None

    @classmethod
    def from_dir(cls, model_dir: str) -> ExportedPredictor:
        try:
            return cls(load(model_dir))
        except (FileNotFoundError, ValueError) as error:
            raise ModelUnavailable(f"--model {model_dir}: {error}") from None

    def predict(self, rgb: np.ndarray, neighbours: int) -> Answer:
        m = self._model
        prepared = m.prepare(rgb)[None]
        probs = np.asarray(m.probs(prepared), np.float64)[0]
        votes = None
        if m.levels is None:
            crops, _ = geometry.quadrants(rgb, size=m.image_size)
            votes = quarter_votes(np.asarray(m.probs(np.stack(crops)), np.float64))
        # A pyramid model's first crop is the whole image at S (artjax.data.views.pyramid_crops).
        seen = prepared[0, 0] if m.levels else prepared[0]
        heatmaps = m.gradcam(prepared, np.array([int(np.argmax(probs))]))
        nearest = None
        if m.has_gallery and neighbours > 0:
            nearest = [dict(n, thumbnail=thumbnail_url(n["id"]) if m.thumbnail(n["id"]) else None)
                       for n in m.neighbours(prepared, neighbours)[0]]
        return Answer(probs, votes, seen, None if heatmaps is None else heatmaps[0], nearest)

    def thumbnail(self, work_id: int) -> bytes | None:
        path = self._model.thumbnail(work_id)
        if path is None:
            return None
        with open(path, "rb") as f:
            return f.read()
