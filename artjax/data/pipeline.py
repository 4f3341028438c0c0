"""Grain input pipelines: records -> decode + augment (worker processes) -> batches.

The order of examples depends only on the seed and the epoch, never on the worker or process
count: shuffling is a function of (seed, epoch), a record's random numbers of (seed, epoch,
record index), and workers only parallelise the per-record work. With several processes each
takes its contiguous slice of every global batch, so the global batches, their order and their
augmentation are those of one process. Records travel in chunks of `batch_size` consecutive
positions, cut before the workers (so chunk boundaries depend on positions only): a worker
decodes and augments a whole chunk and sends one stacked array through shared memory, instead
of one pickled record at a time. Unreadable records travel as (id, reason) pairs beside the
chunk; the main process reports each once, counts it and re-batches the readable rows to
`batch_size` (or stops, when strict).
"""

from __future__ import annotations

import ctypes
import dataclasses
import functools
import os
import signal
import sys
from collections.abc import Callable, Iterator
from typing import Any

import grain
import numpy as np
from absl import logging

from artjax.data.sources import Source

Transform = Callable[[np.ndarray, np.random.Generator], np.ndarray]
Chunk = dict[str, Any]


class UnreadableImages(RuntimeError):
    """Raised in strict mode when a record cannot be decoded."""


@dataclasses.dataclass
class BadRecords:
    """The unreadable records seen so far (reported once each), shared by a run's pipelines."""

    strict: bool = False
    reasons: dict[int, str] = dataclasses.field(default_factory=dict)  # record index -> error

    def report(self, index: int, reason: str) -> None:
        if index in self.reasons:
            return
        self.reasons[index] = reason
        if self.strict:
            raise UnreadableImages(f"{reason} (data.strict=True stops at unreadable images)")
        logging.warning("skipping unreadable image: %s", reason)

    def drop(self, chunk: Chunk) -> Chunk:
        """The chunk's readable rows, after reporting its unreadable ones (main process)."""
        for index, reason in chunk["bad"]:
            self.report(index, reason)
        return {"image": chunk["image"], "label": chunk["label"]}


class _PrepareChunk:
    """Loads and transforms a chunk of records; picklable so that grain workers can run it."""

    def __init__(self, source: Source, transform: Transform, errors: tuple[type[Exception], ...],
                 seed: tuple[int, ...]) -> None:
        self.source = source
        self.transform = transform
        self.errors = errors
        self.seed = seed

    def __call__(self, indices: np.ndarray) -> Chunk:
        images, labels, bad = [], [], []
        for index in indices:
            # Seeded by the record alone: independent of workers, threads, chunking and processes.
            rng = np.random.default_rng([*self.seed, int(index)])
            try:
                record = self.source.read(int(index))
            except self.errors as error:
                bad.append((int(index), str(error)))  # the error message names the file
                continue
            images.append(self.transform(record["image"], rng))
            labels.append(record["label"])
        return {"image": np.stack(images) if images else None, "label": np.asarray(labels, np.int32), "bad": bad}


_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def _die_with(parent: int, worker_index: int, worker_count: int) -> None:
    """Runs first in each grain worker: the kernel kills the worker when the trainer dies, by
    SIGKILL too, so that no worker (a GB of memory, still decoding) outlives it. Linux only;
    elsewhere workers end when they next find their queues closed."""
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        logging.warning("grain worker %d: prctl(PR_SET_PDEATHSIG) failed (errno %d)", worker_index, ctypes.get_errno())
    if os.getppid() != parent:  # the trainer died before the request took effect
        os._exit(1)


def _not_empty(chunk: Chunk) -> bool:
    return len(chunk["label"]) > 0


@dataclasses.dataclass(frozen=True)
class PipelineOptions:
    workers: int = 0  # grain worker processes for decoding + augmentation (0 = in this process)
    # Exceptions of Source.read that mean "this file is unreadable" rather than a bug.
    errors: tuple[type[Exception], ...] = ()


class _Gather:
    """`values` at `positions`: a picklable sequence (grain's workers receive the dataset)."""

    def __init__(self, values: grain.MapDataset, positions: np.ndarray) -> None:
        self.values, self.positions = values, positions

    def __len__(self) -> int:
        return len(self.positions)

    def __getitem__(self, i: int) -> int:
        return self.values[int(self.positions[i])]


def process_positions(n: int, global_batch: int, process_index: int, process_count: int) -> np.ndarray:
    """The positions of an epoch's `n` that process `process_index` reads: its contiguous
    `global_batch // process_count` slice of every full global batch, then its share of the rest."""
    local = global_batch // process_count
    full = n // global_batch * global_batch
    batches = np.arange(full).reshape(-1, process_count, local)[:, process_index].reshape(-1)
    return np.concatenate([batches, np.arange(full, n)[process_index::process_count]])


def _batches(source: Source, order: grain.MapDataset, transform: Transform, seed: tuple[int, ...],
             batch_size: int, bad: BadRecords, options: PipelineOptions, *, drop_remainder: bool) -> grain.IterDataset:
    chunks = order.batch(batch_size, batch_fn=np.asarray)
    chunks = chunks.map(_PrepareChunk(source, transform, options.errors, seed))
    # One read thread runs _PrepareChunk (here when workers=0, else in each worker): data.workers
    # is the one knob for parallel decoding.
    ds = chunks.to_iter_dataset(grain.ReadOptions(num_threads=1, prefetch_buffer_size=2))
    if options.workers > 0:
        ds = ds.mp_prefetch(grain.MultiprocessingOptions(num_workers=options.workers),
                            worker_init_fn=functools.partial(_die_with, os.getpid()))
    ds = ds.map(bad.drop).filter(_not_empty)
    return grain.experimental.RebatchIterDataset(ds, batch_size, drop_remainder=drop_remainder)


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

    The epoch's permutation is global (same on every process); each process takes its slice of
    every global batch of it (`process_positions`; batch_size is the per-process batch), so
    processes read disjoint shards. The shard is read twice over, so that when unreadable
    records are skipped a process still fills the same number of batches as the others (the
    caller takes `len(source) // global batch` of them); only when more than half of a shard is
    unreadable does the iterator run short.
    """
    s = epoch_seed(seed, epoch)
    shuffled = grain.MapDataset.range(len(source)).shuffle(seed=s)
    if process_count > 1:
        positions = process_positions(len(source), batch_size * process_count, process_index, process_count)
        shuffled = grain.MapDataset.source(_Gather(shuffled, positions))
    return iter(_batches(source, shuffled.repeat(2), transform, (s,), batch_size, bad, options, drop_remainder=True))


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
    order = grain.MapDataset.source(np.arange(process_index, len(source), process_count))
    shard_size = -(-len(source) // process_count)  # ceiling divisions
    num_batches = -(-shard_size // batch_size)
    ds = _batches(source, order, transform, (0,), batch_size, bad, options, drop_remainder=False)
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
