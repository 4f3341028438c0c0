"""Train, evaluate and checkpoint one experiment.

    python -m artjax.main --config experiments/quickstart.py[:variant] --workdir DIR [--config.a.b=value ...]

Running the same command again on the same workdir resumes from its latest checkpoint, or, when
the run is finished, prints its final metrics. Config mistakes end the run before any work with
one line naming the key and exit status 2; data, weight, file-system and numeric problems, a
workdir in use by another run, or a workdir holding another run, with one line and exit status 1
(ARTJAX_DEBUG=1 shows the stack trace instead). SIGTERM or Ctrl-C save a checkpoint at the next
step and exit with 143 or 130; the same command then resumes.
"""

from __future__ import annotations

import contextlib

from artjax import cli  # first: sets the CPU XLA flags before JAX loads

from absl import app, flags  # noqa: E402

_WORKDIR = flags.DEFINE_string("workdir", None, "run directory: checkpoints, metrics.jsonl, report")


def main(argv: list[str]) -> None:
    config = cli.validated_config(argv)
    if not _WORKDIR.value:
        cli.fail("--workdir is required")
    import jax  # heavy imports only once the config is good

    from artjax.rundir import RunDir
    from artjax.runs.errors import training_errors
    from artjax.train import loop

    with training_errors():
        with RunDir(_WORKDIR.value).lock() if jax.process_index() == 0 else contextlib.nullcontext():
            result = loop.run(config, _WORKDIR.value)
            if jax.process_index() == 0:
                from artjax.runs.finish import finish_run

                print(f"report: {finish_run(_WORKDIR.value, config, trained=result.trained)}")


def run() -> None:
    app.run(main, flags_parser=cli.parse_flags)


if __name__ == "__main__":
    run()
