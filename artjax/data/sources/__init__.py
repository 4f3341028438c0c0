"""Data sources, and `make_source(data_cfg, split)` which opens the one `data.source` names.

Config keys read (all under `data`; optional ones with their defaults):
  source                 folder | csv | wikiart | tfds | arrays, or a name added by register_source
  root, val_root         image folders (folder), path roots (csv, wikiart)
  csv, val_csv           manifests (csv); path_column='img_path', label_column='artist'
  class_file             class list, `name` or `index name` per line (wikiart: with split files; csv: optional,
                         fixes the class order and rejects other labels)
  train_split, val_split ArtGAN `path,label_index` files (wikiart)
  task='artist', top_classes=0   wikiart: artist | style | genre; keep the N classes with most works
                         (wikiart also reads csv + path_column, or walks the ArtGAN tree: sources/wikiart.py)
  tfds_name, tfds_dir    prepared ArrayRecord TFDS dataset; tfds_train_split='train', tfds_val_split=''
  arrays                 .npz with x_train, y_train (+ x_test, y_test, class_names)
  val_fraction=0.2, split_seed=0   stratified hold-out when there is no validation set
  max_pixels=178_956_970, decode_short_side=0 (0 = decode JPEGs at full size)
  cache_dir='', cache_short_side=512   decoded-image cache of the file-based sources (artjax.data.cache)
Validation and training share one class list: the training side's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from artjax.data.sources.arrays import ArraySource, NpzArraySource, arrays_from_mapping, npz_parts
from artjax.data.sources.base import DecodeOptions, DecodingSource, Source, Subset, holdout
from artjax.data.sources.files import (
    FileSource,
    csv_source,
    folder_source,
    read_class_file,
)
from artjax.data.sources.tfds_source import TfdsSource
from artjax.data.sources.wikiart import wikiart_source

__all__ = [
    "ArraySource", "DecodeOptions", "DecodingSource", "FileSource", "Source", "Subset", "TfdsSource",
    "make_source", "register_source", "source_names",
]

SPLITS = ("train", "val")
SourceFactory = Callable[[Any, str], Source]


def _folder(data: Any, split: str) -> Source:
    options = DecodeOptions.from_config(data)
    train = folder_source(data.root, options)
    if not data.val_root:
        return holdout(train, data, split)
    if split == "train":
        return train
    return folder_source(data.val_root, options, class_names=train.class_names, key="data.val_root")


def _csv(data: Any, split: str) -> Source:
    options = DecodeOptions.from_config(data)
    columns = dict(path_column=data.path_column, label_column=data.label_column)
    classes = read_class_file(data.class_file) if data.class_file else None
    root, val_csv = data.root, data.val_csv
    if split == "val" and val_csv and classes is not None:  # no need to read the training manifest
        return csv_source(val_csv, data.val_root or root, options, class_names=classes, key="data.val_csv",
                          **columns)
    train = csv_source(data.csv, root, options, class_names=classes, **columns)
    if not val_csv:
        return holdout(train, data, split)
    if split == "train":
        return train
    return csv_source(val_csv, data.val_root or root, options, class_names=train.class_names,
                      key="data.val_csv", **columns)


def _tfds(data: Any, split: str) -> Source:
    options = DecodeOptions.from_config(data)
    name, data_dir = data.tfds_name, data.tfds_dir
    val_split = data.tfds_val_split
    if split == "val" and val_split:
        return TfdsSource(name, val_split, data_dir, options)
    train = TfdsSource(name, data.tfds_train_split, data_dir, options)
    return train if val_split else holdout(train, data, split)


def _arrays(data: Any, split: str, arrays: Mapping[str, Any] | None = None) -> Source:
    options = DecodeOptions.from_config(data)
    if arrays is not None:
        train: DecodingSource = arrays_from_mapping(arrays, "train", options)
        has_test = "x_test" in arrays
    else:
        members, names = npz_parts(data.arrays)
        train = NpzArraySource(data.arrays, "train", names, options)
        has_test = {"x_test", "y_test"} <= members
    if not has_test:
        return holdout(train, data, split)
    if split == "train":
        return train
    if arrays is not None:
        return ArraySource(np.asarray(arrays["x_test"]), arrays["y_test"], train.class_names, name="arrays/test",
                           options=options)
    return NpzArraySource(data.arrays, "test", train.class_names, options)


_FACTORIES: dict[str, SourceFactory] = {
    "folder": _folder, "csv": _csv, "wikiart": wikiart_source, "tfds": _tfds, "arrays": _arrays,
}


def register_source(name: str, factory: SourceFactory) -> None:
    """Makes `data.source = name` open `factory(data_cfg, split)` (e.g. the built-in painters)."""
    _FACTORIES[name] = factory


def source_names() -> tuple[str, ...]:
    """The names `data.source` may take: the built-in sources and every registered one."""
    return tuple(_FACTORIES)


def make_source(data: Any, split: str, *, arrays: Mapping[str, Any] | None = None) -> Source:
    """The `split` ('train' or 'val') source of the data config `data`.

    `arrays` passes in-memory arrays (keys x_train, y_train, optional x_test, y_test,
    class_names) for `data.source = 'arrays'` instead of the `data.arrays` .npz path.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if arrays is not None:
        if data.source != "arrays":
            raise ValueError(f"in-memory arrays need data.source='arrays', not {data.source!r}")
        return _arrays(data, split, arrays)
    if data.source not in _FACTORIES:
        raise ValueError(f"data.source: unknown source {data.source!r}; expected one of {sorted(_FACTORIES)}")
    return _FACTORIES[data.source](data, split)
