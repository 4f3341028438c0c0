"""WikiArt as users have it (data.source = 'wikiart'), in one of three forms, by the keys set:

  split files   data.train_split (+ data.val_split, data.class_file): ArtGAN's `path,label_index`
                lines (`path,,label_index` under a header line in the GitHub copies); the official split.
  metadata CSV  data.csv: a header row with data.path_column and a column named after the task.
  tree          data.root alone: ArtGAN's `wikiart/` tree of `<Style>/<artist-slug>_<title>.jpg`;
                the artist is the slug before the first '_', the style the folder (no genre).

data.task = artist | style | genre (the tasks of Cetinic et al. 2018); data.top_classes = N keeps the
N classes with the most works (train + val), ties broken by name. Without an official split a seeded
stratified one is made (split.py). A malformed file name or CSV line is skipped and reported naming
the file and line, as unreadable images are; data.strict = True stops with the whole list instead.
"""

from __future__ import annotations

import csv
import dataclasses
import os
from collections import Counter
from typing import Any

import numpy as np
from absl import logging

from artjax.data.sources.base import DecodeOptions, DecodingSource, holdout
from artjax.data.sources.files import FileSource, images_under, require_dir, require_file, read_class_file

TASKS = ("artist", "style", "genre")
_REPORTED: set[str] = set()  # malformed entries already reported by this process: once each


@dataclasses.dataclass(frozen=True)
class ClassSelection:
    """The classes data.top_classes kept, with their works, out of all the data holds."""

    task: str
    top: int
    classes_in_data: int
    works_in_data: int
    works: dict[str, int]  # kept class -> works (train + val), in class order

    def record(self, train_counts: np.ndarray, val_counts: np.ndarray) -> dict[str, Any]:
        """The JSON record of the run directory (train / val counts per kept class added)."""
        return {"task": self.task, "top_classes": self.top, "classes_in_data": self.classes_in_data,
                "works_in_data": self.works_in_data,
                "classes": [{"name": name, "works": works, "train": int(train), "val": int(val)}
                            for (name, works), train, val in zip(self.works.items(), train_counts, val_counts)]}


def describe_selection(record: dict[str, Any]) -> str:
    """One line per kept class under a heading line (the log and the scan)."""
    kept = record["classes"]
    head = (f"data.top_classes={record['top_classes']}: the {len(kept)} {record['task']} classes with the most works "
            f"of {record['classes_in_data']:,} ({sum(c['works'] for c in kept):,} of {record['works_in_data']:,} "
            "works); works (train/val):")
    return "\n".join([head, *(f"  {c['name']}: {c['works']:,} ({c['train']:,}/{c['val']:,})" for c in kept)])


class _Problems:
    """Malformed entries: each skipped and reported once, or all raised together when strict."""

    def __init__(self, strict: bool) -> None:
        self.strict = strict
        self.found: list[str] = []

    def add(self, where: str, what: str) -> None:
        self.found.append(f"{where}: {what}")

    def settle(self) -> None:
        if self.found and self.strict:
            raise ValueError(f"{len(self.found)} malformed WikiArt entr{'y' if len(self.found) == 1 else 'ies'} and "
                             "data.strict=True:\n  " + "\n  ".join(self.found))
        for line in self.found:
            if line not in _REPORTED:  # the train and validation sides (and the report) read the same files
                _REPORTED.add(line)
                logging.warning("skipping malformed WikiArt entry: %s", line)


# ---------------------------------------------------------------- the three forms

def read_split_file(path: str, num_classes: int, key: str, problems: _Problems) -> tuple[list[str], list[int]]:
    """(paths, labels) of ArtGAN's `relative/path.jpg,label_index` (or `path,,label_index`) lines; a
    first line without an index is the header of the GitHub copies."""
    require_file(path, key)
    paths: list[str] = []
    labels: list[int] = []
    first = True
    # surrogateescape: file names that are not valid UTF-8 still match the names on disk.
    with open(path, encoding="utf-8", errors="surrogateescape") as f:
        for line_no, line in enumerate(f, start=1):
            line = line.strip()
            if not line:
                continue
            rel, _, label = line.rpartition(",")
            rel, label = rel.rstrip(",").strip(), label.strip()
            header, first = first and not label.isdigit(), False
            if header:
                continue
            if not rel or not label.isdigit() or int(label) >= num_classes:
                problems.add(f"{path}:{line_no}", f"expected 'path,label_index' with index < {num_classes}, "
                                                  f"got {line!r}")
                continue
            paths.append(rel)
            labels.append(int(label))
    return paths, labels


def read_metadata(path: str, path_column: str, task: str, problems: _Problems) -> tuple[list[str], list[str]]:
    """(paths, class names) of a metadata CSV's `path_column` and `task` columns."""
    require_file(path, "data.csv")
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f)
        header = [h.strip() for h in next(reader, [])]
        for column, key in ((path_column, "data.path_column"), (task, "data.task")):
            if column not in header:
                raise ValueError(f"{path}: no column {column!r} ({key}); columns are {header}")
        p, t = header.index(path_column), header.index(task)
        paths, names = [], []
        for line_no, row in enumerate(reader, start=2):
            if not any(cell.strip() for cell in row):
                continue
            value = row[t].strip() if len(row) > t else ""
            rel = row[p].strip() if len(row) > p else ""
            if not rel or not value:
                problems.add(f"{path}:{line_no}", f"no {path_column!r} or {task!r} value")
                continue
            paths.append(rel)
            names.append(value)
    return paths, names


def artist_of(name: str) -> str | None:
    """The artist slug of an ArtGAN file name (`claude-monet_water-lilies-1917-7.jpg` -> `claude-monet`),
    None when the name has no `<slug>_<title>` form."""
    slug, sep, title = os.path.splitext(name)[0].partition("_")
    return slug if sep and slug and title else None


def read_tree(root: str, task: str, problems: _Problems) -> tuple[list[str], list[str]]:
    """(paths, class names) of the ArtGAN tree: `<Style>/<artist-slug>_<title>.jpg` under `root`."""
    if task == "genre":
        raise ValueError("data.task='genre': the WikiArt tree's file names hold no genre; set data.train_split, "
                         "data.val_split and data.class_file to ArtGAN's Genre files, or data.csv to a metadata CSV")
    paths, names = [], []
    for rel in images_under(root):
        style, sep, rest = rel.partition(os.sep)
        if not sep:
            problems.add(os.path.join(root, rel), "not in a style folder (expected <Style>/<artist>_<title>.jpg)")
            continue
        if task == "style":
            paths.append(rel)
            names.append(style)
            continue
        artist = artist_of(os.path.basename(rest))
        if artist is None:
            problems.add(os.path.join(root, rel), "no '<artist-slug>_<title>' file name")
            continue
        paths.append(rel)
        names.append(artist)
    return paths, names


# ---------------------------------------------------------------- the source

def _check_task(class_file: str, task: str) -> None:
    """ArtGAN names its files after their task (`style_class.txt`): refuse another task's files."""
    stem = os.path.basename(class_file).lower()
    named = [t for t in TASKS if stem.startswith(t)]
    if named and named[0] != task:
        raise ValueError(f"data.class_file {class_file!r} lists {named[0]} classes but data.task is {task!r}")


def top_classes(counts: dict[str, int], n: int) -> list[str]:
    """The `n` names with the highest counts, ties broken by name (all when n is 0 or more than there are)."""
    ranked = sorted(counts, key=lambda name: (-counts[name], name))
    return ranked[:n] if n else ranked


def _select(names: list[str], counts: dict[str, int], data: Any) -> tuple[list[str], ClassSelection | None]:
    """The kept class names in their data order (of `names`), and the selection record."""
    if not data.top_classes:
        return names, None
    kept = set(top_classes(counts, int(data.top_classes)))
    ordered = [name for name in names if name in kept]
    selection = ClassSelection(task=data.task, top=int(data.top_classes), classes_in_data=len(counts),
                               works_in_data=sum(counts.values()), works={name: counts[name] for name in ordered})
    return ordered, selection


def _file_source(root: str, rows: list[tuple[str, str]], class_names: list[str], options: DecodeOptions,
                 selection: ClassSelection | None) -> FileSource:
    index = {name: i for i, name in enumerate(class_names)}
    rows = [(path, name) for path, name in rows if name in index]
    source = FileSource(root, [p for p, _ in rows], np.asarray([index[n] for _, n in rows], np.int32), class_names,
                        options)
    source.selection = selection
    return source


def wikiart_source(data: Any, split: str) -> DecodingSource:
    """The `split` ('train' or 'val') side of the WikiArt form the keys of `data` name."""
    options = DecodeOptions.from_config(data)
    task = data.task
    if task not in TASKS:
        raise ValueError(f"data.task: {task!r} is not one of {', '.join(TASKS)}")
    require_dir(data.root, "data.root")
    problems = _Problems(strict=bool(data.strict))
    if data.train_split:  # the official split of one task's ArtGAN files
        _check_task(data.class_file, task)
        classes = read_class_file(data.class_file)
        splits = {"train": read_split_file(data.train_split, len(classes), "data.train_split", problems)}
        if data.val_split:
            splits["val"] = read_split_file(data.val_split, len(classes), "data.val_split", problems)
        problems.settle()
        rows = {side: [(p, classes[i]) for p, i in zip(*pair)] for side, pair in splits.items()}
        names = classes
    else:
        if data.csv:
            paths, labels = read_metadata(data.csv, data.path_column, task, problems)
        else:
            paths, labels = read_tree(data.root, task, problems)
        problems.settle()
        rows = {"train": list(zip(paths, labels))}
        names = sorted(set(labels))
    counts = Counter(name for side in rows.values() for _, name in side)
    if not counts:
        listing = data.train_split or data.csv or data.root
        raise ValueError(f"{listing}: no usable WikiArt images for data.task={task!r} (see the warnings above)")
    names = [name for name in names if name in counts]  # a class file may list classes without works
    names, selection = _select(names, counts, data)
    if "val" not in rows:
        return holdout(_file_source(data.root, rows["train"], names, options, selection), data, split)
    return _file_source(data.root, rows[split], names, options, selection)
