"""The report's figures, drawn with matplotlib's object API on the Agg canvas.

No pyplot: nothing here touches the global backend, so importing artjax in a notebook leaves
its inline backend alone. Each `plot_*` writes one PNG and returns False when it has nothing
to draw.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import cv2
import matplotlib
import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from PIL import Image

Record = dict[str, Any]


def _save(fig: Figure, path: str) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def _series(records: Sequence[Record], key: str) -> tuple[list[int], list[float]]:
    points = [(r["step"], r[key]) for r in records if isinstance(r.get(key), (int, float))]
    return [s for s, _ in points], [v for _, v in points]


def plot_loss(train: Sequence[Record], val: Sequence[Record], path: str) -> bool:
    """Training loss per logged step and validation loss per evaluation."""
    train_steps, train_loss = _series(train, "loss")
    val_steps, val_loss = _series(val, "loss")
    if not train_steps and not val_steps:
        return False
    fig = Figure(figsize=(7, 4))
    ax = fig.subplots()
    if train_steps:
        ax.plot(train_steps, train_loss, label="train (mean since the last log)", alpha=0.8)
    if val_steps:
        ax.plot(val_steps, val_loss, "o-", label="validation")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.grid(alpha=0.3)
    ax.legend()
    _save(fig, path)
    return True


def plot_scores(val: Sequence[Record], path: str) -> bool:
    """Validation accuracy, macro-F1 (and top-5 accuracy when logged) per evaluation."""
    series = [(key, *_series(val, key)) for key in ("accuracy", "macro_f1", "top5_accuracy")]
    series = [s for s in series if s[1]]
    if not series:
        return False
    fig = Figure(figsize=(7, 4))
    ax = fig.subplots()
    for key, steps, values in series:
        ax.plot(steps, values, "o-", label=key)
    ax.set_xlabel("step")
    ax.set_ylabel("validation score")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.legend()
    _save(fig, path)
    return True


def plot_runs(curves: Mapping[str, tuple[Sequence[float], Sequence[float], Sequence[float] | None]], ylabel: str,
              path: str) -> bool:
    """One line per run or variant (name -> (epochs, values, spread or None)) on shared axes: a
    sweep's runs compared; a spread (one standard deviation over seeds) is drawn as a band."""
    curves = {name: c for name, c in curves.items() if len(c[0])}
    if not curves:
        return False
    fig = Figure(figsize=(7, 4))
    ax = fig.subplots()
    for name, (epochs, values, spread) in curves.items():
        line, = ax.plot(epochs, values, "o-", label=name, markersize=3)
        if spread is not None:
            low, high = np.subtract(values, spread), np.add(values, spread)
            ax.fill_between(epochs, low, high, color=line.get_color(), alpha=0.2, linewidth=0)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    _save(fig, path)
    return True


def plot_learning_rate(train: Sequence[Record], path: str) -> bool:
    steps, lr = _series(train, "lr")
    if not steps:
        return False
    fig = Figure(figsize=(7, 3))
    ax = fig.subplots()
    ax.plot(steps, lr, ".-")
    ax.set_xlabel("step")
    ax.set_ylabel("learning rate")
    ax.grid(alpha=0.3)
    _save(fig, path)
    return True


def normalize_rows(confusion: np.ndarray) -> np.ndarray:
    """Each true-class row divided by its total (rows of absent classes stay 0)."""
    confusion = np.asarray(confusion, np.float64)
    totals = confusion.sum(axis=1, keepdims=True)
    return np.divide(confusion, totals, out=np.zeros_like(confusion), where=totals > 0)


def plot_confusion(confusion: np.ndarray, class_names: Sequence[str], path: str) -> bool:
    """The row-normalised confusion matrix; cells are annotated up to 20 classes."""
    rates = normalize_rows(confusion)
    n = len(class_names)
    side = min(4 + 0.45 * n, 30)
    fig = Figure(figsize=(side + 1.5, side))
    ax = fig.subplots()
    image = ax.imshow(rates, cmap="Blues", vmin=0.0, vmax=1.0)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="fraction of the true class")
    ax.set_xticks(range(n), labels=class_names, rotation=90 if n > 6 else 45, ha="center" if n > 6 else "right")
    ax.set_yticks(range(n), labels=class_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if n <= 20:
        for i in range(n):
            for j in range(n):
                if rates[i, j] > 0:
                    ax.text(j, i, f"{rates[i, j]:.2f}", ha="center", va="center", fontsize=8,
                            color="white" if rates[i, j] > 0.5 else "black")
    _save(fig, path)
    return True


def heatmap_overlay(image: np.ndarray, heatmap: np.ndarray, alpha: float = 0.45) -> np.ndarray:
    """The RGB uint8 `image` blended with the 'jet' colouring of a [0, 1] `heatmap` of its size."""
    colours = matplotlib.colormaps["jet"](np.clip(heatmap, 0.0, 1.0))[..., :3] * 255.0
    return np.clip((1 - alpha) * image.astype(np.float64) + alpha * colours, 0, 255).astype(np.uint8)


def save_thumbnail(image: np.ndarray, path: str, *, size: int = 192) -> None:
    """An RGB uint8 image scaled so its longer side is `size` (small inputs enlarged sharply)."""
    height, width = image.shape[:2]
    scale = size / max(height, width)
    shape = (max(1, round(width * scale)), max(1, round(height * scale)))
    interpolation = cv2.INTER_NEAREST if scale > 1 else cv2.INTER_AREA
    Image.fromarray(cv2.resize(np.ascontiguousarray(image), shape, interpolation=interpolation)).save(path)


def reliability_diagram(record: Record, path: str) -> None:
    """Accuracy against confidence per bin, before and after temperature scaling (a calibration.json
    record), with ECE and NLL of each in the legend; the diagonal is perfect calibration."""
    fig = Figure(figsize=(9, 4.2))
    axes = fig.subplots(1, 2, sharey=True)
    for ax, when, title in ((axes[0], "before", "the model (T = 1)"),
                            (axes[1], "after", f"temperature scaled (T = {record['temperature']:.3f})")):
        bins = record[f"reliability_{when}"]
        width = 1.0 / len(bins["upper"])
        left = [u - width for u in bins["upper"]]
        accuracy = [a if c else 0.0 for a, c in zip(bins["accuracy"], bins["count"])]
        ax.bar(left, accuracy, width=width, align="edge", edgecolor="black", alpha=0.8,
               label=f"ECE {record[f'ece_{when}']:.4f}, NLL {record[f'nll_{when}']:.4f}")
        ax.plot([0, 1], [0, 1], "k--", linewidth=1)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_xlabel("confidence (top-1 probability)")
        ax.set_title(title)
        ax.legend(loc="upper left")
    axes[0].set_ylabel(f"accuracy ({record['count']} validation images, {len(bins['upper'])} bins)")
    _save(fig, path)


def neighbours_grid(rows: Sequence[tuple[np.ndarray, str, Sequence[tuple[np.ndarray, str]]]], path: str) -> bool:
    """One row per query: its image and caption, then its nearest works with theirs."""
    if not rows:
        return False
    columns = 1 + max(len(works) for _, _, works in rows)
    fig = Figure(figsize=(2.3 * columns, 2.5 * len(rows)))
    axes = np.atleast_2d(fig.subplots(len(rows), columns, squeeze=False))
    for r, (image, caption, works) in enumerate(rows):
        for c, (shown, text) in enumerate([(image, caption), *works]):
            axes[r, c].imshow(shown)
            axes[r, c].set_title(text, fontsize=8, color="firebrick" if c == 0 else "black")
        for ax in axes[r]:
            ax.axis("off")
    _save(fig, path)
    return True
