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

`--backend ray [--address ADDR] [--cpus_per_run N] [--gpus_per_run N]` runs every run as a Ray
task (artjax/runs/sweep_backends.py), on the cluster at ADDR or on a local one started here; a
failed run is reported with its log tail, the others finish, and the sweep exits 1 naming it.
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

from artjax.runs.sweep_backends import BACKENDS  # noqa: E402  (light: no JAX)

_CONFIG = flags.DEFINE_string("config", None, "experiment file, optionally with :fixed,variants")
_GRID = flags.DEFINE_string("grid", None, "key=value1,value2,... or flag1,flag2,...")
_WORKDIR = flags.DEFINE_string("workdir", None, "sweep directory; one subfolder per run")
_SEEDS = flags.DEFINE_string("seeds", None, "comma-separated training seeds: every variant runs once per seed")
_BACKEND = flags.DEFINE_enum("backend", "local", list(BACKENDS), "local: one run after another here; "
                             "ray: every run a Ray task (pip install -e '.[ray]')")
_ADDRESS = flags.DEFINE_string("address", None, "--backend ray: the cluster's address (default: start a local one)")
_CPUS_PER_RUN = flags.DEFINE_float("cpus_per_run", 1, "--backend ray: CPUs reserved per run")
_GPUS_PER_RUN = flags.DEFINE_float("gpus_per_run", 0, "--backend ray: GPUs reserved per run")
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
    try:
        return flags.FLAGS(rest)
    except flags.Error as error:  # a bad flag value is the user's mistake: one line, not a trace
        print(f"artjax: {' '.join(str(error).split())}", file=sys.stderr)
        sys.exit(2)


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


class RunsFailed(Exception):
    """Runs of a Ray sweep that failed (each reported with its log tail); the others finished."""


def sweep(config_spec: str, grid: str, workdir: str, *, overrides: Sequence[tuple[str, str]] = (),
          seeds: Sequence[int] | None = None, backend: str = "local", ray_options: dict | None = None) -> str:
    """Runs (or resumes, or skips when finished) every variant, and per seed when `seeds` are
    given, then writes the comparison; returns the path of DIR/sweep.html. ConfigError before any
    run when a variant's config is bad. With backend "local" a stopped run raises its error
    (rerunning resumes it); with "ray" (ray_options: run_on_ray's keywords) the runs are Ray
    tasks, a failed one is reported with its log tail, and RunsFailed names them after the others finished."""
    from artjax.config import apply_override, load_config, validate
    from artjax.runs import compare, sweep_backends

    variants = []  # (variant name, [(run name, config)]) every config checked before any run
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
            planned.append((name if seed is None else os.path.join(name, f"seed={seed}"), seeded))
        variants.append((name, planned))
    everything = [run for _, planned in variants for run in planned]
    if backend == "ray":
        results = sweep_backends.run_on_ray(everything, workdir, **(ray_options or {}))
    else:
        results = sweep_backends.run_local(everything, workdir)
    failed = [r for r in results if isinstance(r, sweep_backends.RunFailure)]
    for failure in failed:
        print(f"== {failure.name} FAILED (log: {failure.log}); its last lines:\n{failure.tail}", file=sys.stderr)
    rows, by_variant, done = [], [], iter(results)
    for name, planned in variants:
        kept = [(seed, row) for seed, row in zip(seeds or [None] * len(planned), (next(done) for _ in planned))
                if not isinstance(row, sweep_backends.RunFailure)]
        rows += [row for _, row in kept]
        by_variant.append(compare.Variant(name, [s for s, _ in kept], [r for _, r in kept]) if seeds is not None else None)
    page = compare.write_comparison(workdir, rows, title=f"sweep: {config_spec} over {grid}",
                                    variants=by_variant if seeds is not None else None)
    if seeds is not None:
        print(compare.seed_table(by_variant))
    print(compare.table(rows))
    if failed:
        raise RunsFailed(f"{len(failed)} of {len(results)} runs failed: {', '.join(f.name for f in failed)}")
    return page


def main(argv: list[str]) -> None:
    if len(argv) > 1 or not (_CONFIG.value and _GRID.value and _WORKDIR.value):
        print("artjax: usage: python -m artjax.sweep --config FILE[:variants] --grid key=v1,v2 --workdir DIR "
              "[--seeds 0,1,2] [--backend ray [--address ADDR] [--cpus_per_run N] [--gpus_per_run N]]", file=sys.stderr)
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
    ray_options = {"address": _ADDRESS.value, "cpus_per_run": _CPUS_PER_RUN.value,
                   "gpus_per_run": _GPUS_PER_RUN.value}
    with training_errors():  # a stopped run stops a local sweep; rerunning it resumes that run
        try:
            page = sweep(_CONFIG.value, _GRID.value, _WORKDIR.value, overrides=_OVERRIDES, seeds=seeds,
                         backend=_BACKEND.value, ray_options=ray_options if _BACKEND.value == "ray" else None)
        except (ConfigError, ImportError) as error:
            print(f"artjax: {error}", file=sys.stderr)
            sys.exit(2)
        except RunsFailed as error:
            print(f"artjax: {error}", file=sys.stderr)
            sys.exit(1)
    print(f"comparison: {page}")


if __name__ == "__main__":
    app.run(main, flags_parser=parse_flags)
