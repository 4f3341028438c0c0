"""Scanning a source before training: class counts, image sizes, and every unreadable file.

Every record is fully decoded (a truncated JPEG only shows itself when decoded), so a scan costs
one decode per image; `threads` decode in parallel (Pillow releases the GIL while decoding).
Sizes are those of the decoded, EXIF-rotated images (reduced, if data.decode_short_side is set,
or to the cached size when data.cache_dir is set: the scan then fills the cache).
"""

from __future__ import annotations

import collections
import dataclasses
import hashlib
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from artjax.data.decode import DecodeError
from artjax.data.sources import Source


@dataclasses.dataclass
class ScanReport:
    class_names: list[str]
    class_counts: list[int]  # records per class, unreadable ones included
    widths: np.ndarray  # of the readable images, in record order
    heights: np.ndarray
    bad: list[tuple[str, str]]  # (record id, reason naming the file) per unreadable record
    digests: dict[str, str]  # record id -> hash of its decoded pixels, for the readable records

    @property
    def num_records(self) -> int:
        return sum(self.class_counts)


Probe = tuple[tuple[int, int, str, str] | None, tuple[str, str] | None]


def _probe(source: Source, index: int) -> Probe:
    """((width, height, id, pixel hash), None) for a readable record, (None, (id, reason)) otherwise."""
    try:
        record = source.read(index)
    except DecodeError as error:
        return None, (source[index]["id"], str(error))
    image = record["image"]
    digest = hashlib.blake2b(image.tobytes(), digest_size=16)
    digest.update(str(image.shape).encode())
    return (image.shape[1], image.shape[0], str(record["id"]), digest.hexdigest()), None


def scan_source(source: Source, *, threads: int = 1) -> ScanReport:
    """Decodes every record of `source` once and summarises what it found."""
    indices = range(len(source))
    if threads > 1:
        with ThreadPoolExecutor(threads) as pool:
            results = list(pool.map(lambda i: _probe(source, i), indices))
    else:
        results = [_probe(source, i) for i in indices]
    readable = [found for found, _ in results if found is not None]
    sizes = np.array([found[:2] for found in readable], np.int64).reshape(-1, 2)
    counts = np.bincount(source.labels(), minlength=len(source.class_names))
    return ScanReport(
        class_names=list(source.class_names),
        class_counts=[int(c) for c in counts],
        widths=sizes[:, 0],
        heights=sizes[:, 1],
        bad=[bad for _, bad in results if bad is not None],
        digests={found[2]: found[3] for found in readable},
    )


def identical_contents(*reports: ScanReport) -> list[list[str]]:
    """Groups of records (ids, across all `reports`) whose decoded pixels are identical."""
    groups = collections.defaultdict(list)
    for report in reports:
        for record, digest in report.digests.items():
            groups[digest].append(record)
    return sorted(sorted(ids) for ids in groups.values() if len(ids) > 1)


def _stats(values: np.ndarray) -> str:
    return f"{values.min()} / {int(np.median(values))} / {values.max()}"


def format_report(report: ScanReport) -> str:
    """A human-readable summary; the unreadable files are listed one per line, in full."""
    lines = [f"{report.num_records} records, {len(report.class_names)} classes", "class counts:"]
    width = max((len(n) for n in report.class_names), default=0)
    lines += [f"  {name:<{width}}  {count}" for name, count in zip(report.class_names, report.class_counts)]
    if len(report.widths):
        lines.append(f"image sizes of {len(report.widths)} readable images (min / median / max):")
        lines.append(f"  width   {_stats(report.widths)}")
        lines.append(f"  height  {_stats(report.heights)}")
    else:
        lines.append("no readable images")
    lines.append(f"unreadable files: {len(report.bad)}")
    lines += [f"  {reason}" for _, reason in report.bad]
    return "\n".join(lines)
