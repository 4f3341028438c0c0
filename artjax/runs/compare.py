"""A sweep's comparison of its runs, in the form of the seeds' papers: a table per run (S0's
Tables 3-4, S4's model table) and the runs' validation curves overlaid (S0's Figs. 2 and 4).
A sweep over seeds (`--seeds`) adds a table per variant: the mean and the spread (sample
standard deviation, ddof 1) over its seeds, and the curves become per-variant means with a
band of one standard deviation.

The sweep directory holds `results.md` (the table), `sweep.html` (table, figures, links to every
run's report) and the figures. Everything is read back from the runs' metrics.jsonl, so the
page of a resumed or partly skipped sweep is the same as that of one uninterrupted sweep.
"""

from __future__ import annotations

import dataclasses
import html
import os
import statistics
from collections.abc import Sequence
from typing import Any

from artjax.eval import plots
from artjax.eval.report import STYLE
from artjax.rundir import RunDir

RESULTS = "results.md"
PAGE = "sweep.html"
FIGURES = (("accuracy", "validation accuracy", "sweep_accuracy.png"),
           ("macro_f1", "validation macro-F1", "sweep_macro_f1.png"),
           ("loss", "validation loss", "sweep_loss.png"))

TRAIN_ACCURACY_NOTE = ("train accuracy: the mean over the selected epoch's training batches, as trained "
                       "(augmented and, with CutMix/MixUp, mixed; scored against the unmixed label), "
                       "as Keras and the seeds' PyTorch loops report it")


@dataclasses.dataclass
class RunRow:
    """One run of the sweep: `selected` is the validation record of its selected checkpoint."""

    name: str
    trainable_params: int
    selected_epoch: int | None
    selected: dict[str, Any]
    train_accuracy: float | None
    val: list[dict[str, Any]]  # every validation record, in order


def epoch_train_accuracy(train: Sequence[dict[str, Any]]) -> dict[int, float]:
    """Epoch -> mean training-batch accuracy, each logged record weighted by the steps it covers."""
    sums: dict[int, list[float]] = {}
    previous = 0
    for record in sorted(train, key=lambda r: r["step"]):
        covered = record["step"] - previous
        previous = record["step"]
        if "accuracy" in record:  # runs logged before training accuracy was recorded have none
            total = sums.setdefault(record["epoch"], [0.0, 0])
            total[0] += record["accuracy"] * covered
            total[1] += covered
    return {epoch: s / n for epoch, (s, n) in sums.items() if n}


def run_row(name: str, workdir: str, *, trainable_params: int, selected_epoch: int | None) -> RunRow:
    """The row of the run in `workdir`, read from its metrics.jsonl."""
    records = RunDir(workdir).read_metrics()
    val = [r for r in records if r["split"] == "val"]
    selected = next((r for r in val if r.get("epoch") == selected_epoch), {})
    train_accuracy = epoch_train_accuracy([r for r in records if r["split"] == "train"]).get(selected_epoch)
    return RunRow(name, trainable_params, selected_epoch, selected, train_accuracy, val)


def _number(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, (int, float)) else "n/a"


COLUMNS = ("scenario", "trainable params", "train accuracy", "val accuracy", "val macro-F1", "val loss",
           "selected epoch")


def _cells(row: RunRow) -> list[str]:
    return [row.name, f"{row.trainable_params:,}", _number(row.train_accuracy),
            *(_number(row.selected.get(k)) for k in ("accuracy", "macro_f1", "loss")),
            str(row.selected_epoch) if row.selected_epoch is not None else "n/a"]


def table(rows: Sequence[RunRow]) -> str:
    """The markdown table (scenario first, then the figures of its selected checkpoint)."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|---|" + "---:|" * (len(COLUMNS) - 1)]
    lines += ["| " + " | ".join(_cells(row)) + " |" for row in rows]
    return "\n".join(lines)


@dataclasses.dataclass
class Variant:
    """One variant of a sweep over seeds: its runs, one per seed, in the order of `seeds`."""

    name: str
    seeds: list[int]
    runs: list[RunRow]


def mean_spread(values: Sequence[float]) -> tuple[float, float | None]:
    """(mean, sample standard deviation); the spread is None for fewer than two values."""
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else None


def _mean_cell(values: Sequence[Any]) -> str:
    if not values or not all(isinstance(v, (int, float)) for v in values):
        return "n/a"
    mean, spread = mean_spread(values)
    return f"{mean:.4f}" if spread is None else f"{mean:.4f} ± {spread:.4f}"


SEED_COLUMNS = ("scenario", "seeds", "trainable params", "train accuracy", "val accuracy", "val macro-F1",
                "val loss", "selected epochs")


def _variant_cells(variant: Variant) -> list[str]:
    runs = variant.runs
    params = sorted({r.trainable_params for r in runs})
    return [variant.name, ",".join(map(str, variant.seeds)), " / ".join(f"{p:,}" for p in params),
            _mean_cell([r.train_accuracy for r in runs]),
            *(_mean_cell([r.selected.get(k) for r in runs]) for k in ("accuracy", "macro_f1", "loss")),
            ", ".join(str(r.selected_epoch) if r.selected_epoch is not None else "n/a" for r in runs)]


def seed_table(variants: Sequence[Variant]) -> str:
    """The markdown table of a sweep over seeds: per variant, mean ± standard deviation."""
    lines = ["| " + " | ".join(SEED_COLUMNS) + " |", "|---|---|" + "---:|" * (len(SEED_COLUMNS) - 2)]
    lines += ["| " + " | ".join(_variant_cells(v)) + " |" for v in variants]
    return "\n".join(lines)


def _curve(val: Sequence[dict[str, Any]], key: str) -> dict[int, float]:
    return {r["epoch"]: r[key] for r in val if key in r}


def _curves(rows: Sequence[RunRow], variants: Sequence[Variant] | None,
            key: str) -> dict[str, tuple[list[int], list[float], list[float] | None]]:
    """name -> (epochs, values, spread): every run's curve, or per variant the mean over its
    seeds at the epochs every seed reached, with the standard deviation."""
    if not variants:
        return {row.name: (list(c), list(c.values()), None) for row in rows for c in [_curve(row.val, key)]}
    curves = {}
    for variant in variants:
        per_seed = [_curve(run.val, key) for run in variant.runs]
        epochs = sorted(set.intersection(*(set(c) for c in per_seed)))
        stats = [mean_spread([c[epoch] for c in per_seed]) for epoch in epochs]
        curves[variant.name] = (epochs, [m for m, _ in stats],
                                [s for _, s in stats] if len(per_seed) > 1 else None)
    return curves


def _html_table(columns: Sequence[str], rows: Sequence[Sequence[str]], table_id: str) -> str:
    e = html.escape
    head = "".join(f"<th>{e(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f'<td class="n">{e(c)}</td>' if i else f"<th>{e(c)}</th>"
                                    for i, c in enumerate(cells)) + "</tr>" for cells in rows)
    return f'<table id="{table_id}"><tr>{head}</tr>{body}</table>'


def write_comparison(sweep_dir: str, rows: Sequence[RunRow], *, title: str,
                     variants: Sequence[Variant] | None = None) -> str:
    """Writes results.md, the overlaid curves and sweep.html into `sweep_dir`; returns the page's
    path. With `variants` (a sweep over seeds) the per-variant table comes first, then the runs'."""
    tables = ([seed_table(variants)] if variants else []) + [table(rows)]
    with open(os.path.join(sweep_dir, RESULTS), "w") as f:
        f.write("\n\n".join(tables) + "\n")
    figures = []
    for key, label, name in FIGURES:
        if plots.plot_runs(_curves(rows, variants, key), label, os.path.join(sweep_dir, name)):
            figures.append((name, f"{label} per epoch, " + ("mean ± sd over seeds per variant" if variants
                                                            else "every run")))
    e = html.escape
    body = _html_table(COLUMNS, [_cells(row) for row in rows], "runs")
    if variants:
        body = _html_table(SEED_COLUMNS, [_variant_cells(v) for v in variants], "variants") + \
            "<h2>Every run</h2>" + body
    links = "".join(f'<li><a href="{e(os.path.join(row.name, "report", "index.html"))}">{e(row.name)}</a></li>'
                    for row in rows)
    shown = "".join(f'<figure class="curve"><a href="{e(n)}"><img src="{e(n)}" alt="{e(c)}"></a>'
                    f"<figcaption>{e(c)}</figcaption></figure>" for n, c in figures)
    page = (f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{e(title)}</title><style>{STYLE}</style>'
            f"</head><body><h1>{e(title)}</h1>{body}"
            f"<p>Each run's figures are those of its selected checkpoint (checkpoint.select); "
            f"{e(TRAIN_ACCURACY_NOTE)}.</p><h2>Validation curves</h2>{shown or '<p>No validation records.</p>'}"
            f"<h2>Run reports</h2><ul>{links}</ul></body></html>\n")
    path = os.path.join(sweep_dir, PAGE)
    with open(path, "w") as f:
        f.write(page)
    return path
