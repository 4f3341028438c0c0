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
"""

from __future__ import annotations

import os
import re
import sys

from artjax import runtime

runtime.configure_xla_cpu()

from absl import app, flags, logging  # noqa: E402

_CONFIG = flags.DEFINE_string("config", None, "experiment file, optionally with :fixed,variants")
_GRID = flags.DEFINE_string("grid", None, "key=value1,value2,... or flag1,flag2,...")
_WORKDIR = flags.DEFINE_string("workdir", None, "sweep directory; one subfolder per run")
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


def main(argv: list[str]) -> None:
    if len(argv) > 1 or not (_CONFIG.value and _GRID.value and _WORKDIR.value):
        print("artjax: usage: python -m artjax.sweep --config FILE[:variants] --grid key=v1,v2 --workdir DIR",
              file=sys.stderr)
        sys.exit(2)
    if not flags.FLAGS["verbosity"].present:
        logging.set_verbosity(logging.WARNING)
    from artjax.config import ConfigError, apply_override, load_config, validate
    from artjax.runs import compare
    from artjax.runs.errors import training_errors
    from artjax.runs.finish import finish_run
    from artjax.train import loop

    plan = runs(_CONFIG.value, _GRID.value)
    try:
        configs = [(name, load_config(spec)) for name, spec in plan]  # every variant checked before any run
        for _, config in configs:
            for key, text in _OVERRIDES:
                apply_override(config, key, text)
            validate(config)
    except ConfigError as error:
        print(f"artjax: {error}", file=sys.stderr)
        sys.exit(2)
    rows = []
    with training_errors():  # a stopped run stops the sweep; rerunning it resumes that run
        for name, config in configs:
            print(f"== {name}")
            workdir = os.path.join(_WORKDIR.value, name)
            result = loop.run(config, workdir)
            print(f"report: {finish_run(workdir, config, trained=result.trained)}")
            selected = result.best_epoch if config.checkpoint.select == "best" else result.epoch
            rows.append(compare.run_row(name, workdir, trainable_params=result.trainable_params,
                                        selected_epoch=selected))
    page = compare.write_comparison(_WORKDIR.value, rows, title=f"sweep: {_CONFIG.value} over {_GRID.value}")
    print(compare.table(rows))
    print(f"comparison: {page}")


if __name__ == "__main__":
    app.run(main, flags_parser=parse_flags)
