"""An exported model directory (artjax/runs/export.py) as an object: prepare, probs, embed,
gradcam, and with a gallery neighbours and thumbnail."""

from __future__ import annotations

import json
import os
from typing import Any

import jax
import numpy as np

from artjax.data.augment import make_transform
from artjax.data.views import pyramid_crops
from artjax.eval.gallery import exact_search, normalize

SUPPORTED_FORMAT = 1


def _deserialize(path: str) -> jax.export.Exported:
    with open(path, "rb") as f:
        return jax.export.deserialize(bytearray(f.read()))


class ExportedModel:
    """model.jaxexport (and gradcam.jaxexport when present) with their manifest.json."""

    def __init__(self, model_dir: str) -> None:
        path = os.path.join(model_dir, "manifest.json")
        if not os.path.isfile(path):
            raise FileNotFoundError(f"{model_dir} is not an exported model (no manifest.json)")
        with open(path) as f:
            self.manifest: dict[str, Any] = json.load(f)
        if self.manifest["format_version"] != SUPPORTED_FORMAT:
            raise ValueError(f"{model_dir}: export format {self.manifest['format_version']}, this artjax reads "
                             f"{SUPPORTED_FORMAT}")
        self.class_names: list[str] = list(self.manifest["class_names"])
        self.image_size: int = int(self.manifest["image_size"])
        self.temperature: float = float(self.manifest["temperature"])
        levels = self.manifest["input"]["levels"]
        self.levels: tuple[int, ...] | None = tuple(levels) if levels else None
        self._model = _deserialize(os.path.join(model_dir, "model.jaxexport"))
        gradcam = os.path.join(model_dir, "gradcam.jaxexport")
        self._gradcam = _deserialize(gradcam) if os.path.isfile(gradcam) else None
        self._dir = model_dir
        self._gallery = None
        if self.manifest.get("gallery"):
            with np.load(os.path.join(model_dir, self.manifest["gallery"]["file"]), allow_pickle=False) as f:
                self._gallery = {name: f[name] for name in ("embeddings", "labels", "ids")}
        self._transform = make_transform(self.manifest["transform"]["preset"], image_size=self.image_size,
                                         train=False)

    def prepare(self, rgb: np.ndarray) -> np.ndarray:
        """An HxWx3 uint8 RGB image -> the model's input for it: (S, S, 3) through the run's
        evaluation transform, or for a pyramid model its pyramid crops (crops, S, S, 3)."""
        if rgb.ndim != 3 or rgb.shape[-1] != 3 or rgb.dtype != np.uint8:
            raise ValueError(f"prepare needs an HxWx3 uint8 RGB image, got {rgb.dtype} {rgb.shape}")
        if self.levels:
            return np.stack(pyramid_crops(rgb, size=self.image_size, levels=self.levels)[0])
        return self._transform(rgb, 0)  # the eval transform is deterministic: the seed is unused

    def probs(self, images: np.ndarray) -> np.ndarray:
        """Prepared uint8 images (b, S, S, 3) (pyramid: (b, crops, S, S, 3)) -> (b, classes) float32."""
        return np.asarray(self._model.call(np.asarray(images, np.uint8))[0])

    def embed(self, images: np.ndarray) -> np.ndarray:
        """Prepared uint8 images, as `probs` takes them -> (b, width) float32 unit embeddings."""
        return np.asarray(self._model.call(np.asarray(images, np.uint8))[1], np.float32)

    @property
    def has_gallery(self) -> bool:
        return self._gallery is not None

    def neighbours(self, images: np.ndarray, k: int) -> list[list[dict[str, Any]]]:
        """Per prepared image, the k gallery works nearest to its embedding, best first:
        {"class", "similarity" (cosine), "id"}; the exact search of artjax.eval.gallery, so the
        run's own gallery answers the same (below its HNSW size). ValueError without a gallery."""
        if self._gallery is None:
            raise ValueError(f"{self._dir} has no gallery (the run had none for this checkpoint)")
        g = self._gallery
        indices, sims = exact_search(g["embeddings"], normalize(self.embed(images)), k)
        return [[{"class": self.class_names[int(g["labels"][i])], "similarity": float(s), "id": int(g["ids"][i])}
                 for i, s in zip(row, row_sims)] for row, row_sims in zip(indices, sims)]

    def thumbnail(self, work_id: int) -> str | None:
        """The path of gallery work `work_id`'s JPEG thumbnail, or None when it has none."""
        if self._gallery is None or not 0 <= int(work_id) < len(self._gallery["ids"]):
            return None
        path = os.path.join(self._dir, self.manifest["gallery"]["thumbnails"], f"{int(work_id)}.jpg")
        return path if os.path.isfile(path) else None

    def gradcam(self, images: np.ndarray, classes: np.ndarray) -> np.ndarray | None:
        """Heatmaps (b, S, S) in [0, 1] of the given classes (int (b,); -1: the predicted one),
        or None when the export has no Grad-CAM (pyramid models)."""
        if self._gradcam is None:
            return None
        return np.asarray(self._gradcam.call(np.asarray(images, np.uint8), np.asarray(classes, np.int32)))


def load(model_dir: str) -> ExportedModel:
    return ExportedModel(model_dir)
