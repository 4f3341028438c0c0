"""Built-in SYNTHETIC "painters": a procedurally generated artist-classification data set.

Nothing is downloaded: every image is drawn on demand from (seed, split, index), so the data set
costs no disk and is identical on every machine. Each synthetic artist has a style made of a
palette, a stroke direction, stroke length, stroke width, stroke density and a texture grating of
a given frequency. Artists come in pairs that share a palette and differ only in their strokes,
so mean colour alone cannot tell a pair apart: the task needs texture, like real artist
attribution. Images vary in size and aspect ratio, as paintings do.
"""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np

# Four-colour palettes (RGB). Two artists use each palette.
_PALETTES = (
    ((214, 180, 120), (160, 110, 60), (90, 60, 40), (240, 220, 170)),  # ochres
    ((40, 70, 140), (90, 140, 200), (230, 230, 240), (20, 30, 60)),  # blues
    ((60, 120, 60), (150, 190, 90), (230, 200, 80), (30, 50, 30)),  # greens
    ((170, 40, 50), (230, 120, 90), (250, 230, 210), (60, 20, 30)),  # reds
)


@dataclasses.dataclass(frozen=True)
class Style:
    """How one synthetic artist paints. Lengths are fractions of the image's short side."""

    name: str
    palette: int
    angle: float  # main stroke direction, degrees
    angle_jitter: float  # standard deviation of the direction, degrees
    length: tuple[float, float]
    width: tuple[int, int]  # stroke thickness range in pixels, inclusive
    density: float  # strokes per 1000 pixels of canvas
    texture_freq: float  # grating cycles per 100 pixels
    texture_amp: float  # grating amplitude in grey levels


ARTISTS: tuple[Style, ...] = (
    Style("horizon", 0, 0, 6, (0.35, 0.6), (2, 3), 1.2, 2.0, 10),
    Style("rain", 0, 90, 6, (0.06, 0.12), (1, 2), 6.0, 9.0, 14),
    Style("diagonal", 1, 45, 8, (0.2, 0.35), (2, 4), 2.0, 4.0, 10),
    Style("crosshatch", 1, 135, 8, (0.2, 0.35), (1, 2), 4.0, 12.0, 18),
    Style("pointillist", 2, 0, 180, (0.01, 0.03), (2, 4), 9.0, 0.0, 0),
    Style("tower", 2, 90, 4, (0.4, 0.7), (3, 5), 0.8, 1.5, 8),
    Style("swirl", 3, 20, 40, (0.1, 0.2), (2, 3), 3.0, 6.0, 12),
    Style("stripe", 3, 160, 3, (0.5, 0.9), (1, 2), 1.5, 16.0, 20),
)

SPLIT_IDS = {"train": 0, "val": 1, "test": 2}


def paint(style: Style, rng: np.random.Generator, min_size: int, max_size: int) -> np.ndarray:
    """Draws one painting in `style` as an RGB uint8 array of random size and aspect ratio."""
    short = int(rng.integers(min_size, max_size + 1))
    aspect = float(np.exp(rng.uniform(np.log(0.6), np.log(1.6))))
    h, w = (short, int(round(short * aspect))) if aspect >= 1 else (int(round(short / aspect)), short)
    palette = np.asarray(_PALETTES[style.palette], np.float32)
    # Per-painting colour drift, so the palette is a tendency rather than a fingerprint.
    palette = palette + rng.normal(0, 12, size=(1, 3))
    canvas = np.empty((h, w, 3), np.float32)
    canvas[:] = palette[int(rng.integers(len(palette)))]
    n_strokes = max(1, int(style.density * h * w / 1000))
    side = min(h, w)
    for _ in range(n_strokes):
        angle = np.deg2rad(style.angle + rng.normal(0, style.angle_jitter))
        half = 0.5 * rng.uniform(*style.length) * side
        cy, cx = rng.uniform(0, h), rng.uniform(0, w)
        dy, dx = half * np.sin(angle), half * np.cos(angle)
        colour = palette[int(rng.integers(len(palette)))] + rng.normal(0, 8, size=3)
        cv2.line(
            canvas,
            (int(cx - dx), int(cy - dy)),
            (int(cx + dx), int(cy + dy)),
            tuple(float(c) for c in colour),
            thickness=int(rng.integers(style.width[0], style.width[1] + 1)),
            lineType=cv2.LINE_AA,
        )
    if style.texture_amp:
        theta = np.deg2rad(style.angle + 90)
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        phase = rng.uniform(0, 2 * np.pi)
        grating = np.sin(2 * np.pi * style.texture_freq / 100 * (xx * np.cos(theta) + yy * np.sin(theta)) + phase)
        canvas += style.texture_amp * grating[..., None]
    canvas += rng.normal(0, 3, size=canvas.shape)  # canvas grain
    return np.clip(canvas, 0, 255).astype(np.uint8)


class PaintersSource:
    """The synthetic painters as a data source: `read(i)` draws record i of a split.

    Labels cycle through the artists (record i has label i % num_artists), so every split is
    exactly class-balanced when its size is a multiple of the artist count.
    """

    def __init__(
        self,
        *,
        split: str,
        num_examples: int,
        num_artists: int = 6,
        seed: int = 0,
        min_size: int = 96,
        max_size: int = 160,
    ) -> None:
        if split not in SPLIT_IDS:
            raise ValueError(f"painters: unknown split {split!r}; expected one of {sorted(SPLIT_IDS)}")
        if not 2 <= num_artists <= len(ARTISTS):
            raise ValueError(f"painters: num_artists must be in [2, {len(ARTISTS)}], got {num_artists}")
        if not 8 <= min_size <= max_size:
            raise ValueError(f"painters: need 8 <= min_size <= max_size, got {min_size}, {max_size}")
        self.split = split
        self.num_examples = num_examples
        self.styles = ARTISTS[:num_artists]
        self.seed = seed
        self.min_size = min_size
        self.max_size = max_size
        self.class_names = [s.name for s in self.styles]

    def __len__(self) -> int:
        return self.num_examples

    def labels(self) -> np.ndarray:
        return (np.arange(self.num_examples) % len(self.styles)).astype(np.int32)

    def read(self, index: int) -> dict:
        label = index % len(self.styles)
        rng = np.random.default_rng([self.seed, SPLIT_IDS[self.split], index])
        image = paint(self.styles[label], rng, self.min_size, self.max_size)
        return {"image": image, "label": label, "id": f"painters/{self.split}/{index}"}
