"""Prepared TFDS datasets in ArrayRecord format, read with `tfds.data_source` (no TensorFlow).

Images are fetched still encoded (SkipDecoding) and decoded by artjax's own decoder, so TFDS
images get the same EXIF, mode and error handling as files. The dataset must have been prepared
with `file_format='array_record'` (e.g. `tfds build cifar10 --file_format=array_record`);
nothing is ever downloaded.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from artjax.data.sources.base import DecodeOptions, DecodingSource, check_index

_LABEL_CHUNK = 4096  # records per batched read when collecting the labels


def _open(name: str, split: str, data_dir: str | None) -> Any:
    import tensorflow_datasets as tfds  # heavy import, only for this source

    where = f"data.tfds_dir={data_dir!r}" if data_dir else "the default TFDS data directory"
    try:
        return tfds.data_source(name, split=split, data_dir=data_dir, download=False,
                                decoders={"image": tfds.decode.SkipDecoding()})
    except tfds.core.registered.DatasetNotFoundError as error:
        raise FileNotFoundError(f"data.tfds_name: no TFDS dataset {name!r} in {where}") from error
    except (AssertionError, FileNotFoundError) as error:
        raise FileNotFoundError(f"data.tfds_name: dataset {name!r} is not prepared in {where} ({error})") from error
    except NotImplementedError as error:
        raise ValueError(f"data.tfds_name: {name!r} in {where} is not in ArrayRecord format; prepare it with "
                         f"file_format='array_record' ({error})") from error
    except ValueError as error:  # e.g. an unknown split name
        raise ValueError(f"data.tfds_name: {name!r} split {split!r}: {error}") from error


class TfdsSource(DecodingSource):
    """Split `split` of the prepared TFDS dataset `name` (features `image` and `label`)."""

    def __init__(self, name: str, split: str, data_dir: str | None, options: DecodeOptions) -> None:
        if not name:
            raise ValueError("data.tfds_name is empty: set it to a prepared TFDS dataset, e.g. 'cifar10'")
        self.name, self.split, self.data_dir = name, split, data_dir or None
        self.options = options
        self._ds = ds = _open(name, split, self.data_dir)
        features = ds.dataset_info.features
        for key in ("image", "label"):
            if key not in features:
                raise ValueError(f"data.tfds_name: {name!r} has no {key!r} feature (has {list(features.keys())})")
        n = len(ds)
        self._labels = np.empty(n, np.int32)
        for start in range(0, n, _LABEL_CHUNK):
            keys = list(range(start, min(n, start + _LABEL_CHUNK)))
            self._labels[start:start + len(keys)] = [r["label"] for r in ds.__getitems__(keys)]
        names = getattr(features["label"], "names", None)  # a ClassLabel; a plain integer has none
        self.class_names = list(names) if names else [str(i) for i in range(int(self._labels.max(initial=-1)) + 1)]

    def __len__(self) -> int:
        return len(self._labels)

    def labels(self) -> np.ndarray:
        return self._labels

    def __getitem__(self, index: int) -> dict[str, Any]:
        index = check_index(index, len(self))
        if self._ds is None:
            self._ds = _open(self.name, self.split, self.data_dir)
        record = self._ds[index]
        return {"image": record["image"], "label": int(record["label"]), "id": f"{self.name}/{self.split}/{index}"}

    def __getstate__(self) -> dict[str, Any]:
        # Each worker process opens its own reader rather than inheriting file handles.
        return {**self.__dict__, "_ds": None}
