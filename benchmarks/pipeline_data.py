"""The pipeline benchmarks' data, one artjax source that both sides read (torch wraps it in a
Dataset): the built-in painters, or a folder of generated 2000x1500 JPEGs (big paintings),
decoded every time or through artjax's decoded-image cache (short side 512, filled before timing).

The JPEGs are written once under the system temp directory and reused by later runs.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable, Iterator
from typing import Any

import cv2
import numpy as np
from PIL import Image

from artjax.data.painters import ARTISTS, PaintersSource, paint
from artjax.data.sources import DecodeOptions, FileSource, Source
from benchmarks.cases import Side

ROOT = os.path.join(tempfile.gettempdir(), "artjax_benchmarks")
JPEG_DIR = os.path.join(ROOT, "jpegs_2000x1500")
CACHE_DIR = os.path.join(ROOT, "decoded_cache")
NUM_JPEGS = 64
LISTED = 64  # each file is listed this many times, so that no epoch ends inside a timed repeat
CACHE_SHORT_SIDE = 512
KINDS = ("painters", "jpegs", "jpegs_cached")


def _write_jpeg(index: int, path: str) -> None:
    """A synthetic painting drawn small, enlarged to 2000x1500 and given film grain, so that the
    file's size and decode cost are those of a scanned painting (about 1 MB at quality 90)."""
    rng = np.random.default_rng(index)
    small = paint(ARTISTS[index % len(ARTISTS)], rng, min_size=300, max_size=300)
    big = cv2.resize(small, (2000, 1500), interpolation=cv2.INTER_CUBIC).astype(np.int16)
    big += rng.normal(0, 6, big.shape).astype(np.int16)
    temporary = path + ".tmp"
    Image.fromarray(np.clip(big, 0, 255).astype(np.uint8)).save(temporary, format="JPEG", quality=90)
    os.replace(temporary, path)  # the other side may be checking for the files meanwhile


def _jpegs() -> tuple[list[str], np.ndarray]:
    os.makedirs(JPEG_DIR, exist_ok=True)
    names = [f"{i:03d}.jpg" for i in range(NUM_JPEGS)]
    for i, name in enumerate(names):
        if not os.path.exists(os.path.join(JPEG_DIR, name)):
            _write_jpeg(i, os.path.join(JPEG_DIR, name))
    return names, np.arange(NUM_JPEGS, dtype=np.int32) % len(ARTISTS)


def make_source(kind: str) -> Source:
    """The benchmark source `kind` (one of KINDS); for `jpegs_cached`, the cache is full."""
    if kind == "painters":
        return PaintersSource(split="train", num_examples=100_000)
    if kind not in KINDS:
        raise ValueError(f"unknown pipeline data {kind!r}; expected one of {KINDS}")
    names, labels = _jpegs()
    cache_dir = CACHE_DIR if kind == "jpegs_cached" else ""
    options = DecodeOptions(cache_dir=cache_dir, cache_short_side=CACHE_SHORT_SIDE)
    source = FileSource(JPEG_DIR, names * LISTED, np.tile(labels, LISTED), [a.name for a in ARTISTS], options)
    if cache_dir:
        for i in range(NUM_JPEGS):
            source.read(i)
    return source


def iterator_runner(new_iterator: Callable[[], Iterator[Any]], side: Side
                    ) -> tuple[Callable[[], None], Callable[[int], None], dict[str, Any]]:
    """(before, run, facts) of a pipeline side, the same for both frameworks. `before` (untimed)
    closes the previous iterator and starts a new one, taking one batch per worker so that every
    worker process is up: starting and stopping workers takes seconds that belong to neither
    repeat (both are reported in the facts, not timed). `run(n)` takes n batches."""
    box: dict[str, Any] = {}
    facts: dict[str, Any] = {"workers": side.workers, "augment": side.augment, "data": side.data}

    def before() -> None:
        start = time.perf_counter()
        box.pop("batches", None)
        facts["close_s"] = round(time.perf_counter() - start, 2)
        start = time.perf_counter()
        box["batches"] = new_iterator()
        for _ in range(max(1, side.workers)):
            next(box["batches"])
        facts["start_s"] = round(time.perf_counter() - start, 2)

    def run(n: int) -> None:
        for _ in range(n):
            next(box["batches"])

    return before, run, facts
