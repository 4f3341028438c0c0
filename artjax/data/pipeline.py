"""Grain input pipelines: records -> decode + augment (worker processes) -> batches.

The order of examples depends only on the seed and the epoch, never on the worker count:
shuffling and per-record random numbers are functions of (seed, epoch, index), workers only
parallelise the per-record work, and batching happens after the workers in the main process.
Unreadable records travel as markers to the main process, which reports each once by id,
counts it and leaves it out of the batch (or stops, when strict).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from typing import Any

import grain
import numpy as np
from absl import logging

from artjax.data.sources import Source

Transform = Callable[[np.ndarray, np.random.Generator], np.ndarray]


class UnreadableImages(RuntimeError):
    """Raised in strict mode when a record cannot be decoded."""


@dataclasses.dataclass
class BadRecords:
    """The unreadable records seen so far (reported once each), shared by a run's pipelines."""

    strict: bool = False
    reasons: dict[int, str] = dataclasses.field(default_factory=dict)  # record index -> error

    def keep(self, record: dict[str, Any]) -> bool:
        if "error" not in record:
            return True
        if record["id"] not in self.reasons:
            self.reasons[record["id"]] = record["error"]
            if self.strict:
                raise UnreadableImages(f"{record['error']} (data.strict=True stops at unreadable images)")
            logging.warning("skipping unreadable image: %s", record["error"])
        return False


class _Prepare:
    """Loads and transforms one record; picklable so that grain workers can run it."""

    def __init__(self, source: Source, transform: Transform, errors: tuple[type[Exception], ...]) -> None:
        self.source = source
        self.transform = transform
        self.errors = errors

    def __call__(self, index: int, rng: np.random.Generator) -> dict[str, Any]:
        try:
            record = self.source.read(int(index))
        except self.errors as error:
            return {"id": int(index), "error": str(error)}  # the error message names the file
        image = self.transform(record["image"], rng)
        return {"image": image, "label": np.int32(record["label"])}


def _stack(records: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    return {"image": np.stack([r["image"] for r in records]), "label": np.stack([r["label"] for r in records])}


@dataclasses.dataclass(frozen=True)
class PipelineOptions:
    workers: int = 0
    read_threads: int = 1
    # Exceptions of Source.load that mean "this file is unreadable" rather than a bug.
    errors: tuple[type[Exception], ...] = ()


def _records(source: Source, order: np.ndarray | grain.MapDataset, transform: Transform, seed: int,
             options: PipelineOptions) -> grain.IterDataset:
    ds = order if isinstance(order, grain.MapDataset) else grain.MapDataset.source(order)
    ds = ds.random_map(_Prepare(source, transform, options.errors), seed=seed)
    iter_ds = ds.to_iter_dataset(grain.ReadOptions(num_threads=options.read_threads, prefetch_buffer_size=8))
    if options.workers > 0:
        iter_ds = iter_ds.mp_prefetch(grain.MultiprocessingOptions(num_workers=options.workers))
    return iter_ds


def epoch_seed(seed: int, epoch: int) -> int:
    return int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0])


def train_batches(
    source: Source,
    *,
    epoch: int,
    batch_size: int,
    transform: Transform,
    seed: int,
    bad: BadRecords,
    options: PipelineOptions,
    process_index: int = 0,
    process_count: int = 1,
) -> grain.DatasetIterator:
    """A checkpointable iterator of full training batches of this process for one epoch.

    The epoch's permutation is global (same on every process); each process takes every
    `process_count`-th example of it, so processes read disjoint shards. The shard is read
    twice over, so that when unreadable records are skipped a process still fills the same
    number of batches as the others (the caller takes `len(source) // global batch` of them);
    only when more than half of a shard is unreadable does the iterator run short.
    """
    s = epoch_seed(seed, epoch)
    order = grain.MapDataset.range(len(source)).shuffle(seed=s)[process_index::process_count].repeat(2)
    ds = _records(source, order, transform, s, options).filter(bad.keep).batch(batch_size, drop_remainder=True,
                                                                            batch_fn=_stack)
    return iter(ds)


def eval_batches(
    source: Source,
    *,
    batch_size: int,
    transform: Transform,
    bad: BadRecords,
    options: PipelineOptions,
    process_index: int = 0,
    process_count: int = 1,
) -> Iterator[dict[str, np.ndarray]]:
    """Every example of this process's shard once, in order; the last batch padded, with `mask`.

    All processes yield the same number of batches (collectives need it), padding with fully
    masked batches where a shard runs short.
    """
    indices = np.arange(process_index, len(source), process_count)
    num_batches = -(-(-(-len(source) // process_count)) // batch_size)
    ds = _records(source, indices, transform, 0, options).filter(bad.keep).batch(batch_size, batch_fn=_stack)
    produced = 0
    template = None
    for batch in ds:
        template = batch
        yield _pad(batch, batch_size)
        produced += 1
    if template is None:
        raise ValueError("the evaluation split holds no readable example")
    for _ in range(num_batches - produced):
        yield _pad({k: v[:0] for k, v in template.items()}, batch_size)


def _pad(batch: dict[str, np.ndarray], batch_size: int) -> dict[str, np.ndarray]:
    n = len(batch["label"])
    padded = {k: np.concatenate([v, np.zeros((batch_size - n, *v.shape[1:]), v.dtype)]) for k, v in batch.items()}
    padded["mask"] = (np.arange(batch_size) < n).astype(np.float32)
    return padded
