"""Image files on disk: class folders, CSV manifests and class-list files (the WikiArt forms: wikiart.py).

Indexing never opens an image and never stats every file (a million-row manifest indexes in
seconds); a missing or broken file surfaces when its record is read, as a DecodeError naming it.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
from absl import logging

from artjax.data.sources.base import DecodeOptions, DecodingSource, check_index

IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".jfif", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm"})


class FileSource(DecodingSource):
    """Image files at `root`/`paths[i]` with integer labels into `class_names`."""

    def __init__(self, root: str, paths: Sequence[str], labels: np.ndarray, class_names: list[str],
                 options: DecodeOptions) -> None:
        if len(paths) != len(labels):
            raise ValueError(f"{len(paths)} paths but {len(labels)} labels")
        self.root = root
        self.paths = list(paths)
        self._labels = np.asarray(labels, np.int32)
        self.class_names = list(class_names)
        self.options = options

    def __len__(self) -> int:
        return len(self.paths)

    def labels(self) -> np.ndarray:
        return self._labels

    def __getitem__(self, index: int) -> dict[str, Any]:
        index = check_index(index, len(self))
        path = os.path.join(self.root, self.paths[index])
        return {"image": path, "label": int(self._labels[index]), "id": path}


def require_dir(path: str, key: str) -> None:
    if not path:
        raise ValueError(f"{key} is empty: set it to the image directory")
    if not os.path.isdir(path):
        raise FileNotFoundError(f"{key}: directory {path!r} does not exist")


def require_file(path: str, key: str) -> None:
    if not path:
        raise ValueError(f"{key} is empty: set it to the file's path")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{key}: file {path!r} does not exist")


# ---------------------------------------------------------------- class folders (WikiArt layout)

def _class_dirs(root: str) -> list[str]:
    return sorted(e.name for e in os.scandir(root) if e.is_dir() and not e.name.startswith("."))


def images_under(directory: str) -> list[str]:
    """Image files below `directory`, recursively, relative to it, in sorted order."""
    found = []
    for current, dirs, files in os.walk(directory):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        rel = os.path.relpath(current, directory)
        for name in sorted(files):
            if not name.startswith(".") and os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS:
                found.append(name if rel == "." else os.path.join(rel, name))
    return found


def folder_source(root: str, options: DecodeOptions, *, class_names: list[str] | None = None,
                  key: str = "data.root") -> FileSource:
    """`root`/<class>/**/<image>: one subfolder per class, sorted by name, torchvision-style.

    With `class_names` (a validation folder), subfolders must be among them; without, every
    subfolder is a class and must hold at least one image.
    """
    require_dir(root, key)
    dirs = _class_dirs(root)
    if not dirs:
        raise ValueError(f"{key}: {root!r} has no class subfolders (expected {root}/<class>/<image>)")
    loose = [e.name for e in os.scandir(root)
             if e.is_file() and os.path.splitext(e.name)[1].lower() in IMAGE_EXTENSIONS]
    if loose:
        logging.warning("%s: ignoring %d image(s) directly in %s (not in a class folder)", key, len(loose), root)
    training = class_names is None
    if training:
        class_names = dirs
    else:
        unknown = sorted(set(dirs) - set(class_names))
        if unknown:
            raise ValueError(f"{key}: class folders {unknown} in {root!r} are not training classes")
    index = {name: i for i, name in enumerate(class_names)}
    paths, labels, empty = [], [], []
    for name in dirs:
        files = images_under(os.path.join(root, name))
        if not files:
            empty.append(name)
        paths.extend(os.path.join(name, f) for f in files)
        labels.extend([index[name]] * len(files))
    if empty and training:
        raise ValueError(f"{key}: class folders {empty} in {root!r} hold no images")
    if not paths:
        raise ValueError(f"{key}: no images under {root!r}")
    return FileSource(root, paths, np.asarray(labels, np.int32), class_names, options)


# ---------------------------------------------------------------- CSV manifests

def _sort_labels(names: set[str]) -> list[str]:
    """Class names in sorted order; numerically when every name is an integer ("2" < "10")."""
    if all(n.lstrip("-").isdigit() for n in names):
        return sorted(names, key=int)
    return sorted(names)


def read_manifest(path: str, path_column: str, label_column: str) -> tuple[list[str], list[str]]:
    """(paths, labels) columns of a CSV with a header row; errors name the file, column, line."""
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None:
            raise ValueError(f"{path}: empty CSV (expected a header row)")
        header = [h.strip() for h in header]
        for column, key in ((path_column, "data.path_column"), (label_column, "data.label_column")):
            if column not in header:
                raise ValueError(f"{path}: no column {column!r} ({key}); columns are {header}")
        p, lab = header.index(path_column), header.index(label_column)
        need = max(p, lab)
        paths, labels = [], []
        for line, row in enumerate(reader, start=2):
            if not row:
                continue
            if len(row) <= need or not row[p].strip() or not row[lab].strip():
                raise ValueError(f"{path}:{line}: missing {path_column!r} or {label_column!r} value")
            paths.append(row[p].strip())
            labels.append(row[lab].strip())
    if not paths:
        raise ValueError(f"{path}: the CSV has a header but no rows")
    return paths, labels


def csv_source(csv_path: str, root: str, options: DecodeOptions, *, path_column: str, label_column: str,
               class_names: list[str] | None = None, key: str = "data.csv") -> FileSource:
    """Rows of `csv_path`; relative paths resolve against `root` (default: the CSV's folder).

    Without `class_names` the classes are the sorted distinct labels; with them (a class file,
    or the training classes for a validation CSV) a label outside the list is an error.
    """
    require_file(csv_path, key)
    paths, names = read_manifest(csv_path, path_column, label_column)
    if class_names is None:
        class_names = _sort_labels(set(names))
    index = {name: i for i, name in enumerate(class_names)}
    try:
        labels = np.fromiter((index[n] for n in names), np.int32, count=len(names))
    except KeyError as error:
        line = names.index(error.args[0]) + 2
        raise ValueError(f"{csv_path}:{line}: label {error.args[0]!r} is not one of the {len(class_names)} "
                         f"known classes") from None
    base = root or os.path.dirname(os.path.abspath(csv_path))
    return FileSource(base, paths, labels, class_names, options)


# ---------------------------------------------------------------- class lists

def read_class_file(path: str, key: str = "data.class_file") -> list[str]:
    """Class names, one per line, either `name` or `index name` (ArtGAN's artist_class.txt:
    `0 Albrecht_Durer`); indices must run 0..n-1."""
    require_file(path, key)
    with open(path, encoding="utf-8") as f:
        lines = [line.strip() for line in f if line.strip()]
    if not lines:
        raise ValueError(f"{key}: {path!r} lists no classes")
    parts = [line.split(maxsplit=1) for line in lines]
    if all(len(p) == 2 and p[0].isdigit() for p in parts):
        named = {int(i): name.strip() for i, name in parts}
        if sorted(named) != list(range(len(lines))):
            raise ValueError(f"{key}: {path!r} indices must be 0..{len(lines) - 1}, each once")
        return [named[i] for i in range(len(lines))]
    return lines
