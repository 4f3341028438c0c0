"""S2's figure: for a few validation images, the bilinear upscale, the learned Resizer's output
and their difference (the Resizer sharpens edges), as one PNG grid."""

from __future__ import annotations

import jax
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from flax import nnx  # noqa: E402

from artjax.models.base import Preprocessing  # noqa: E402


def _to_image(x: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    return np.clip(x * std + mean, 0.0, 1.0)


def draw_resizer_figure(resizer: nnx.Module, inputs: jax.Array, preprocessing: Preprocessing, path: str) -> str:
    """Writes the figure for normalised NHWC `inputs` to `path` (PNG) and returns `path`.
    `resizer` is a model's Resizer (models/resizer.py); `preprocessing` undoes the normalisation."""
    learned = np.asarray(resizer(inputs), np.float32)
    bilinear = np.asarray(resizer.bilinear(inputs), np.float32)
    mean, std = np.asarray(preprocessing.mean), np.asarray(preprocessing.std)
    fig, axes = plt.subplots(len(learned), 3, figsize=(9, 3 * len(learned)), squeeze=False)
    for row, (b, r) in enumerate(zip(bilinear, learned)):
        difference = np.abs(_to_image(r, mean, std) - _to_image(b, mean, std)).mean(axis=-1)
        panels = [(_to_image(b, mean, std), "bilinear"), (_to_image(r, mean, std), "Resizer"),
                  (difference / max(float(difference.max()), 1e-8), "|difference| (scaled)")]
        for col, (panel, title) in enumerate(panels):
            axes[row, col].imshow(panel, cmap="magma" if col == 2 else None)
            axes[row, col].set_title(title)
            axes[row, col].axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path
