"""What the web app asks of a model: one decoded painting in, the evidence for its artist out.

`Predictor` is the protocol `artjax.serving.app` serves. Two implementations:

- `LivePredictor(workdir, which="best")`: a run directory's checkpoint (`load_run`) through its
  `Classifier` with the run's calibrated temperature (`calibrate.temperature`), exactly what
  `python -m artjax.predict --workdir DIR` computes for the same file (the run's default view:
  `full`, or `pyramid` for a pyramid model). The quadrant votes are the `quadrants` view of
  `artjax/eval/views.py`; Grad-CAM explains the top class on the evaluation transform's image.
- `ExportedPredictor(model_dir)`: an exported model, through `artjax.serving.load` (the export
  package). It sees the image through the export's own `prepare`.

Both answer `neighbours` with None: the nearest training works are a pending hook (see
`Predictor.neighbours`); the page hides their panel while the answer is None.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np
from absl import logging

from artjax.config import defaults
from artjax.data import views as geometry
from artjax.eval import calibration
from artjax.eval.gradcam import gradcam
from artjax.eval.inference import Prediction, default_view
from artjax.runs import calibrate
from artjax.runs.restore import load_run

QUADRANTS = ("top-left", "top-right", "bottom-left", "bottom-right")  # artjax.data.views.quadrants' order
BATCH_SIZE = 32  # predict's default: the same jitted shapes, so the same numbers


class ModelUnavailable(Exception):
    """A model directory that cannot be served (the message is one line)."""


@dataclasses.dataclass
class Answer:
    probs: np.ndarray  # (classes,) the image's probabilities, temperature-scaled
    votes: list[tuple[int, float]] | None  # per quadrant (QUADRANTS order): its top class and probability
    seen: np.ndarray  # (S, S, 3) uint8: the image as the model saw it (the Grad-CAM's background)
    heatmap: np.ndarray | None  # (S, S) in [0, 1]: Grad-CAM of the top class; None when the model has none


class Predictor(Protocol):
    class_names: Sequence[str]
    temperature: float  # 1.0 when uncalibrated
    calibration: str  # how the probabilities are calibrated, in words
    checkpoint: str  # which weights answer, e.g. 'best checkpoint, step 12'
    max_pixels: int  # decoding's decompression-bomb limit (data.max_pixels)
    draft_size: int | None  # decoding's reduced-size JPEG decode (data.decode_short_side)

    def predict(self, rgb: np.ndarray) -> Answer:
        """A decoded HxWx3 uint8 RGB image -> its Answer."""

    def neighbours(self, rgb: np.ndarray, k: int) -> list[dict[str, Any]] | None:
        """The k training works nearest to the image, nearest first, or None without a gallery.
        Each entry: {"class": name, "similarity": cosine, "id": a name for the work (not a server
        path), "thumbnail": a URL the app serves, or None}. Pending: neither predictor reads a
        gallery yet (a run's DIR/gallery.npz, artjax/runs/gallery.py), so both return None."""


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
        self._classifier = run.classifier(batch_size=BATCH_SIZE, temperature=calibrated.value)
        self._view = default_view(run.model)  # predict's view without --view and --neighbours
        self._transform = run.eval_transform()
        self._prepare = run.prepare()
        # A pyramid model explains through its backbone, as the report does.
        self._explained = run.model.backbone if self._classifier.levels is not None else run.model
        data = run.config.data
        self._image_size = data.image_size
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

    def predict(self, rgb: np.ndarray) -> Answer:
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
        return Answer(prediction.probs, votes, seen, heatmap)

    def neighbours(self, rgb: np.ndarray, k: int) -> list[dict[str, Any]] | None:
        return None  # pending: the run's gallery (see Predictor.neighbours)


class ExportedPredictor:
    """An exported model, loaded by `artjax.serving.load` (the export package): `from_dir(DIR)`.

    Contract of the loaded model `m`: `class_names`, `image_size`, `temperature`, `manifest`
    (a mapping), `prepare(rgb HxWx3 uint8) -> (S, S, 3) uint8`, `probs(uint8 (b, S, S, 3)) ->
    (b, classes)` temperature-scaled, `gradcam(images, classes) -> (b, S, S) in [0, 1] or None`.
    The quadrant votes are the four quarters of the decoded image resized to S (the `quadrants`
    view's cut) through `probs`.
    """

    def __init__(self, model: Any) -> None:
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
            from artjax.serving import load  # the export package's loader (branch `export`)
        except ImportError:
            raise ModelUnavailable("exported models need artjax.serving.load (not available)") from None
        try:
            return cls(load(model_dir))
        except (FileNotFoundError, ValueError) as error:
            raise ModelUnavailable(f"--model {model_dir}: {error}") from None

    def predict(self, rgb: np.ndarray) -> Answer:
        m = self._model
        seen = np.asarray(m.prepare(rgb))
        probs = np.asarray(m.probs(seen[None]), np.float64)[0]
        crops, _ = geometry.quadrants(rgb, size=int(m.image_size))
        votes = quarter_votes(np.asarray(m.probs(np.stack(crops)), np.float64))
        heatmaps = m.gradcam(seen[None], np.array([int(np.argmax(probs))]))
        return Answer(probs, votes, seen, None if heatmaps is None else np.asarray(heatmaps)[0])

    def neighbours(self, rgb: np.ndarray, k: int) -> list[dict[str, Any]] | None:
        return None  # pending: the export's gallery (see Predictor.neighbours)
