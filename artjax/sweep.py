"""Run the variants of an experiment one after another and tabulate them (S0's Tables 1, 3, 4).

    python -m artjax.sweep --config experiments/wikiart.py[:fixed,variant] \\
        --grid freeze=none,conv1,conv1-2,conv1-3 --workdir runs/wikiart_freeze [--config.a.b=value ...]

Each grid value runs as `--config file:fixed,key=value` in DIR/key=value; re-running the sweep
resumes unfinished runs and skips finished ones; every run ends with its report, as with
`artjax.main`. The markdown table (scenario, trainable
parameters, train accuracy, validation accuracy / macro-F1 / loss and the epoch of the selected
checkpoint) goes to stdout and DIR/results.md; DIR/sweep.html shows it with the runs' validation
curves overlaid and links to every run's report (artjax/runs/compare.py). A grid key that is a flag rather than key=value (`--grid resizer,resizer_cbam`)
runs each flag as the variant. `--config.a.b=value` overrides (the `=` form) apply to every run,
as with `artjax.main`: a data root, a smaller model, a different number of epochs.

`--seeds 0,1,2` runs every variant once per training seed (config key `seed`; the data split's
`data.split_seed` stays fixed, so the spread is that of training) in DIR/name/seed=S, and the
table gains a row per variant with the mean and standard deviation over its seeds: the seeds'
papers report single runs, and two runs of one recipe differ.
"""

from __future__ import annotations

import copy
import os
import re
import sys
from collections.abc import Sequence

from artjax import runtime

runtime.configure_xla_cpu()

from absl import app, flags, logging  # noqa: E402

_CONFIG = flags.DEFINE_string("config", None, "experiment file, optionally with :fixed,variants")
_GRID = flags.DEFINE_string("grid", None, "key=value1,value2,... or flag1,flag2,...")
_WORKDIR = flags.DEFINE_string("workdir", None, "sweep directory; one subfolder per run")
_SEEDS = flags.DEFINE_string("seeds", None, "comma-separated training seeds: every variant runs once per seed")
_OVERRIDES: list[tuple[str, str]] = []  # (dotted key, text) of every --config.a.b=value


def parse_flags(argv: list[str]) -> list[str]:
    """absl's parsing, after taking out the `--config.a.b=value` overrides (not absl flags here)."""
    rest = []
    for arg in argv:
        override = re.fullmatch(r"--config\.([\w.]+)=(.*)", arg, flags=re.S)
        if override:
            _OVERRIDES.append((override.group(1), override.group(2)))
        else:
            rest.append(arg)
    return flags.FLAGS(rest)


def runs(config_spec: str, grid: str) -> list[tuple[str, str]]:
    """(run name, full config spec) per grid value."""
    path, _, fixed = config_spec.partition(":")
    key, has_key, values = grid.partition("=")
    names = [f"{key}={v}" for v in values.split(",")] if has_key else grid.split(",")
    return [(name, f"{path}:{','.join(filter(None, [fixed, name]))}") for name in names]


def parse_seeds(text: str | None) -> list[int] | None:
    """The --seeds list (None without the flag); ValueError naming the flag for a bad list."""
    if text is None:
        return None
    try:
        seeds = [int(part) for part in text.split(",")]
    except ValueError:
        raise ValueError(f"--seeds {text!r}: expected comma-separated integers such as 0,1,2") from None
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"--seeds {text!r}: a seed is repeated")
    return seeds


def sweep(config_spec: str, grid: str, workdir: str, *, overrides: Sequence[tuple[str, str]] = (),
          seeds: Sequence[int] | None = None) -> str:
    """Runs (or resumes, or skips when finished) every variant, and per seed when `seeds` are
    given, then writes the comparison; returns the path of DIR/sweep.html. ConfigError before any
    run when a variant's config is bad; a stopped run raises its error (rerunning resumes it)."""
    from artjax.config import apply_override, load_config, validate
    from artjax.runs import compare
    from artjax.runs.finish import finish_run
    from artjax.train import loop

    variants = []  # (variant name, [(run name, seed or None, config)]) every config checked before any run
    for name, spec in runs(config_spec, grid):
        config = load_config(spec)
        for key, text in overrides:
            apply_override(config, key, text)
        validate(config)
        planned = []
        for seed in seeds if seeds is not None else [None]:
            seeded = config if seed is None else copy.deepcopy(config)
            if seed is not None:
                seeded.seed = seed
            planned.append((name if seed is None else os.path.join(name, f"seed={seed}"), seed, seeded))
        variants.append((name, planned))
    rows, by_variant = [], []
    for name, planned in variants:
        variant_rows = []
        for run_name, _, config in planned:
            print(f"== {run_name}")
            run_dir = os.path.join(workdir, run_name)
            result = loop.run(config, run_dir)
            print(f"report: {finish_run(run_dir, config, trained=result.trained)}")
            selected = result.best_epoch if config.checkpoint.select == "best" else result.epoch
            variant_rows.append(compare.run_row(run_name, run_dir, trainable_params=result.trainable_params,
                                                selected_epoch=selected))
        rows += variant_rows
        by_variant.append(compare.Variant(name, list(seeds), variant_rows) if seeds is not None else None)
    page = compare.write_comparison(workdir, rows, title=f"sweep: {config_spec} over {grid}",
                                    variants=by_variant if seeds is not None else None)
    if seeds is not None:
        print(compare.seed_table(by_variant))
    print(compare.table(rows))
    return page


def main(argv: list[str]) -> None:
    if len(argv) > 1 or not (_CONFIG.value and _GRID.value and _WORKDIR.value):
        print("artjax: usage: python -m artjax.sweep --config FILE[:variants] --grid key=v1,v2 --workdir DIR "
              "[--seeds 0,1,2]", file=sys.stderr)
        sys.exit(2)
    if not flags.FLAGS["verbosity"].present:
        logging.set_verbosity(logging.WARNING)
    from artjax.config import ConfigError
    from artjax.runs.errors import training_errors

    try:
        seeds = parse_seeds(_SEEDS.value)
    except ValueError as error:
        print(f"artjax: {error}", file=sys.stderr)
        sys.exit(2)
    with training_errors():  # a stopped run stops the sweep; rerunning it resumes that run
        try:
            page = sweep(_CONFIG.value, _GRID.value, _WORKDIR.value, overrides=_OVERRIDES, seeds=seeds)
        except ConfigError as error:
            print(f"artjax: {error}", file=sys.stderr)
            sys.exit(2)
    print(f"comparison: {page}")


if __name__ == "__main__":
    app.run(main, flags_parser=parse_flags)
