"""Result rows in BENCHMARKS.md: one table per case group, rows appended under the group."""

from __future__ import annotations

import datetime
import os
import statistics
from pathlib import Path

from benchmarks.harness import Result, SideResult

HEADER = ("| date | case | batch, px, mode | A | B | A img/s median (min-max) | B img/s median (min-max) "
          "| ratio A/B (pairs min-max) | peak MB A / B | busy cores A / B | machine | command |\n"
          "|---|---|---|---|---|---|---|---|---|---|---|---|\n")


def machine() -> str:
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), model)
    except OSError:
        pass  # not Linux: the core count still says something
    return f"{model}, {os.cpu_count()} cores"


def _side(result: SideResult) -> str:
    values = result.images_per_s
    return f"{result.median:.2f} ({min(values):.2f}-{max(values):.2f})"


def _marker(group: str) -> str:
    return f"<!-- rows: {group} -->"


def row(result: Result, command: str) -> str:
    case, a, b = result.case, result.a, result.b
    pairs = result.pair_ratios
    a_label = a.side.label() + (f" ({a.facts['mesh']} dev)" if "mesh" in a.facts else "")
    b_label = b.side.label() + (f" ({b.facts['mesh']} dev)" if "mesh" in b.facts else "")
    shape = f"{a.side.batch}, {a.side.size}, {a.side.mode}"
    return (f"| {datetime.date.today().isoformat()} | {case.name} | {shape} | {a_label} | {b_label} | {_side(a)} "
            f"| {_side(b)} | **{result.ratio:.2f}** ({min(pairs):.2f}-{max(pairs):.2f}) "
            f"| {a.maxrss_mb} / {b.maxrss_mb} | {statistics.median(a.busy_cores):.2f} / "
            f"{statistics.median(b.busy_cores):.2f} | {machine()} | `{command}` |\n")


def append(path: Path, result: Result, command: str) -> None:
    """Adds the row under its group's table (the marker after it), or a new group section at the end."""
    text = path.read_text() if path.exists() else ""
    group = result.case.group
    line = row(result, command)
    if _marker(group) in text:
        text = text.replace(_marker(group), line + _marker(group), 1)
    else:
        text += f"{'' if text.endswith(chr(10)) or not text else chr(10)}\n### {group}\n\n{HEADER}{line}{_marker(group)}\n"
    path.write_text(text)
