"""Writes the valid, odd and broken image files the data tests read.

The "zoo" holds one file per case a real painting collection throws at a loader. Each valid
file's expected decoded content is known: flat colour blocks survive JPEG well enough to compare
block means.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import ml_collections
import numpy as np
from PIL import Image

from artjax.config import defaults

RED = (220, 30, 30)
BLUE = (30, 30, 220)


def upright_pattern(height: int = 32, width: int = 16) -> np.ndarray:
    """An asymmetric RGB image: red top-left quadrant on blue, so any rotation or flip shows."""
    image = np.empty((height, width, 3), np.uint8)
    image[:] = BLUE
    image[: height // 2, : width // 2] = RED
    return image


def quadrant_means(image: np.ndarray) -> np.ndarray:
    """Mean colour of the TL, TR, BL, BR quadrants, shape (4, 3)."""
    h, w = image.shape[0] // 2, image.shape[1] // 2
    blocks = [image[:h, :w], image[:h, w:], image[h:, :w], image[h:, w:]]
    return np.stack([b.reshape(-1, 3).mean(axis=0) for b in blocks])


def encode(image: Image.Image, fmt: str, **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **kwargs)
    return buffer.getvalue()


def jpeg_bytes(image: np.ndarray, quality: int = 95) -> bytes:
    return encode(Image.fromarray(image), "JPEG", quality=quality, subsampling=0)


def _exif_rotated_jpeg() -> bytes:
    # Orientation 6 = "rotate 90 degrees clockwise to display": store the picture turned
    # counter-clockwise, so a viewer that honours EXIF shows `upright_pattern()`.
    stored = Image.fromarray(np.ascontiguousarray(np.rot90(upright_pattern(), k=1)))
    exif = stored.getexif()
    exif[0x0112] = 6
    return encode(stored, "JPEG", quality=95, subsampling=0, exif=exif)


def _palette_with_transparency() -> bytes:
    image = Image.new("P", (6, 4), 0)
    image.putpalette([*RED, *BLUE] + [0] * (256 * 3 - 6))
    image.paste(1, (3, 0, 6, 4))  # right half uses palette index 1 (blue) ...
    return encode(image, "PNG", transparency=1)  # ... which is fully transparent


def _rgba() -> bytes:
    rgba = np.zeros((4, 6, 4), np.uint8)
    rgba[..., :3] = RED
    rgba[:, :3, 3] = 255  # left half opaque red
    rgba[:, 3:, 3] = 0  # right half fully transparent
    return encode(Image.fromarray(rgba, "RGBA"), "PNG")


def _gray16() -> bytes:
    ramp = np.array([[0, 257, 32896, 65535]], np.uint16).repeat(2, axis=0)
    return encode(Image.fromarray(ramp), "PNG")


def _bilevel() -> bytes:
    bits = np.zeros((4, 8), bool)
    bits[:, 4:] = True
    return encode(Image.fromarray(bits), "PNG")


def zoo_bytes() -> dict[str, bytes]:
    """File name -> content for every case; names starting with 'bad_' cannot be decoded."""
    pattern = upright_pattern()
    good_jpeg = jpeg_bytes(pattern)
    return {
        "rgb.jpg": good_jpeg,
        "rgb.png": encode(Image.fromarray(pattern), "PNG"),
        "gray.png": encode(Image.fromarray(np.full((5, 7), 100, np.uint8)), "PNG"),
        "bilevel.png": _bilevel(),
        "rgba.png": _rgba(),
        "palette_transparent.png": _palette_with_transparency(),
        "cmyk.jpg": encode(Image.new("CMYK", (8, 6), (0, 255, 255, 0)), "JPEG", quality=95),  # pure red
        "gray16.png": _gray16(),
        "exif_rotated.jpg": _exif_rotated_jpeg(),
        "one_pixel.png": encode(Image.new("RGB", (1, 1), (10, 200, 30)), "PNG"),
        "bad_truncated.jpg": good_jpeg[: len(good_jpeg) // 2],
        "bad_empty.jpg": b"",
        "bad_text.jpg": b"<!DOCTYPE html><html><body>404 Not Found</body></html>\n",
    }


def write_zoo(directory: Path) -> dict[str, Path]:
    """Writes `zoo_bytes()` into `directory`; returns file name -> path."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, content in zoo_bytes().items():
        paths[name] = directory / name
        paths[name].write_bytes(content)
    return paths


def write_png(path: Path, image: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(path, format="PNG")
    return path


def flat_image(value: int, height: int = 6, width: int = 5) -> np.ndarray:
    return np.full((height, width, 3), value, np.uint8)


def write_tfds(data_dir: Path, builder_name: str, class_names: list[str],
               splits: dict[str, list[tuple[object, bytes, int]]]) -> None:
    """Prepares the TFDS dataset of the builder class `builder_name` (CamelCase; TFDS names it in
    snake_case) in ArrayRecord format under `data_dir`: per split, (key, encoded image, label)
    examples. Images are handed over encoded: encoding arrays would need TensorFlow."""
    import tensorflow_datasets as tfds

    tfds.disable_progress_bar()

    def info(self):
        return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict({
            "image": tfds.features.Image(shape=(None, None, 3)),
            "label": tfds.features.ClassLabel(names=class_names)}))

    def split_generators(self, dl_manager):
        return {split: self._generate_examples(split) for split in splits}

    def generate_examples(self, split):
        for key, image, label in splits[split]:
            yield key, {"image": image, "label": label}

    builder = type(builder_name, (tfds.core.GeneratorBasedBuilder,), {
        "VERSION": tfds.core.Version("1.0.0"), "_info": info, "_split_generators": split_generators,
        "_generate_examples": generate_examples})
    builder(data_dir=str(data_dir), file_format="array_record").download_and_prepare()


# A small collection in every source's layout: 3 painters x 8 images of 40 px, the first 6 of each
# painter for training and the last 2 for validation where a layout has splits.
PAINTERS = ["cezanne", "degas", "monet"]
PER_PAINTER = 8


def painter_image(label: int, i: int, size: int = 40) -> np.ndarray:
    """A `size` px image whose strongest channel is its painter's label, shaded by `i`."""
    image = np.full((size, size, 3), 40 + 10 * i, np.uint8)
    image[..., label] = 200
    return image


def painter_rows(split: str) -> list[tuple[str, int]]:
    """(path relative to the collection's root, label) of the `split` ('train' or 'val') images."""
    picked = range(6) if split == "train" else range(6, PER_PAINTER)
    return [(f"{name}/{i}.png", label) for label, name in enumerate(PAINTERS) for i in picked]


def painter_png(path: str, label: int) -> bytes:
    """The PNG of the image at `painter_rows` path `path`."""
    return encode(Image.fromarray(painter_image(label, int(Path(path).stem))), "PNG")


def write_painters(root: Path) -> Path:
    """<root>/<painter>/<i>.png for every image of the collection."""
    for path, label in painter_rows("train") + painter_rows("val"):
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(painter_png(path, label))
    return root


def data_config(**values: Any) -> ml_collections.ConfigDict:
    """The schema's `data` section with `values` set (what `make_source` reads)."""
    data = defaults().data
    data.update(values)
    return data
