"""Train, evaluate and checkpoint one experiment.

    python -m artjax.main --config experiments/quickstart.py[:variant] --workdir DIR [--config.a.b=value ...]

Several processes (one per host or accelerator group) train one run together when started with
--coordinator_address HOST:PORT --num_processes N --process_id I, or under Slurm (srun), Open MPI
or a GKE TPU slice, which are detected, or with --distributed (a Cloud TPU VM slice); process 0
writes the run files and the report.

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
_COORDINATOR = flags.DEFINE_string("coordinator_address", None, "multi-process: host:port of process 0 (with "
                                   "--num_processes, --process_id); Slurm, Open MPI and GKE TPU are detected")
_NUM_PROCESSES = flags.DEFINE_integer("num_processes", None, "multi-process: how many processes take part")
_PROCESS_ID = flags.DEFINE_integer("process_id", None, "multi-process: this process's index, 0 writes the run files")
_DISTRIBUTED = flags.DEFINE_boolean("distributed", False, "multi-process by JAX's own cluster detection (a Cloud "
                                    "TPU VM slice started with --worker=all)")


def main(argv: list[str]) -> None:
    config = cli.validated_config(argv)
    if not _WORKDIR.value:
        cli.fail("--workdir is required")
    from artjax import runtime

    try:
        joined = runtime.initialize_distributed(_COORDINATOR.value, _NUM_PROCESSES.value, _PROCESS_ID.value,
                                                detect=_DISTRIBUTED.value)
    except ValueError as error:
        cli.fail(str(error))
    import jax  # heavy imports only once the config is good

    if joined:
        print(f"distributed: {joined}")
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
