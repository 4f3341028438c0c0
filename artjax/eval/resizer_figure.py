"""S2's figure: for a few validation images, the bilinear upscale, the learned Resizer's output
and their difference (the Resizer sharpens edges), as one PNG grid."""

from __future__ import annotations

import os

import jax.numpy as jnp
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from artjax.data import catalog  # noqa: E402
from artjax.data.augment import make_transform  # noqa: E402
from artjax.train.restore import load_run  # noqa: E402
from artjax.train.steps import normalize  # noqa: E402


def _to_image(x: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    return np.clip(x * std + mean, 0.0, 1.0)


def write_resizer_figure(workdir: str, *, num_images: int = 4) -> str:
    """Writes DIR/report/resizer.png for a run whose model has a Resizer; returns its path."""
    run = load_run(workdir)
    if not hasattr(run.model, "resizer"):
        raise ValueError(f"the model of {workdir} has no Resizer (model.resizer.enabled is False)")
    config = run.config
    source = catalog.open_sources(config.data)[1]
    transform = make_transform(config.data.augment, image_size=config.data.image_size, train=False)
    rng = np.random.default_rng(0)
    images = np.stack([transform(source.read(i)["image"], rng) for i in range(min(num_images, len(source)))])
    prep = run.model.preprocessing
    x = normalize(jnp.asarray(images), prep.mean, prep.std, jnp.float32)
    learned = np.asarray(run.model.resizer(x))
    bilinear = np.asarray(run.model.resizer.bilinear(x))
    mean, std = np.asarray(prep.mean), np.asarray(prep.std)
    fig, axes = plt.subplots(len(images), 3, figsize=(9, 3 * len(images)), squeeze=False)
    for row, (b, r) in enumerate(zip(bilinear, learned)):
        difference = np.abs(_to_image(r, mean, std) - _to_image(b, mean, std)).mean(axis=-1)
        panels = [(_to_image(b, mean, std), "bilinear"), (_to_image(r, mean, std), "Resizer"),
                  (difference / max(float(difference.max()), 1e-8), "|difference| (scaled)")]
        for col, (panel, title) in enumerate(panels):
            axes[row, col].imshow(panel, cmap="magma" if col == 2 else None)
            axes[row, col].set_title(title)
            axes[row, col].axis("off")
    fig.tight_layout()
    out_dir = os.path.join(workdir, "report")
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, "resizer.png")
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path
