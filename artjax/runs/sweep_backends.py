"""Where the runs of a sweep run: one after another in this process (`local`), or as Ray tasks
on a cluster (`ray`, the optional extra `pip install -e '.[ray]'`). Both call `run_one`, so a
run trains, resumes, skips and reports the same way whichever backend runs it."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
import traceback
from collections.abc import Iterator, Sequence
from typing import Any

from artjax import runtime

BACKENDS = ("local", "ray")
LOG_TAIL_LINES = 20


@dataclasses.dataclass
class RunFailure:
    """A run a Ray task could not finish: its name, its log and the last lines of that log."""

    name: str
    log: str
    tail: str


def run_one(run_name: str, config: Any, workdir: str) -> Any:
    """Trains (or resumes, or skips when finished) the run DIR/run_name, writes its report and
    returns its compare.RunRow."""
    runtime.configure_xla_cpu()  # a Ray worker imports this module first, before any JAX
    from artjax.runs import compare
    from artjax.runs.finish import finish_run
    from artjax.train import loop

    print(f"== {run_name}", flush=True)
    run_dir = os.path.join(workdir, run_name)
    result = loop.run(config, run_dir)
    print(f"report: {finish_run(run_dir, config, trained=result.trained)}", flush=True)
    selected = result.best_epoch if config.checkpoint.select == "best" else result.epoch
    return compare.run_row(run_name, run_dir, trainable_params=result.trainable_params, selected_epoch=selected)


def run_local(planned: Sequence[tuple[str, Any]], workdir: str) -> list[Any]:
    """The rows of the runs, one after another; a stopped run raises (rerunning resumes it)."""
    return [run_one(name, config, workdir) for name, config in planned]


@contextlib.contextmanager
def _output_to(path: str) -> Iterator[None]:
    """This process's stdout and stderr (Python's, absl's and XLA's, at the file-descriptor
    level) appended to `path` while the block runs."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    with open(path, "a") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)


def _ray_task(run_name: str, config: Any, workdir: str) -> Any:
    """run_one in a Ray worker, its output in DIR/logs/run_name.log; a failure comes back as a
    RunFailure with the log's tail instead of stopping the other runs."""
    log = os.path.join(workdir, "logs", f"{run_name}.log")
    try:
        with _output_to(log):
            try:
                return run_one(run_name, config, workdir)
            except Exception:
                traceback.print_exc()
                raise
    except Exception:
        with open(log) as f:
            tail = "".join(f.readlines()[-LOG_TAIL_LINES:])
        return RunFailure(run_name, log, tail)


def import_ray() -> Any:
    """The ray module; ImportError naming the extra when it is not installed."""
    try:
        import ray
    except ImportError:
        raise ImportError("--backend ray needs Ray: pip install -e '.[ray]'") from None
    return ray


def run_on_ray(planned: Sequence[tuple[str, Any]], workdir: str, *, address: str | None = None,
               cpus_per_run: float = 1, gpus_per_run: float = 0, num_cpus: int | None = None) -> list[Any]:
    """The rows (or RunFailures) of the runs, each a Ray task on the cluster at `address`, or on
    a local one started here with `num_cpus` CPUs (all of this machine's without it). Workers
    import this checkout's artjax, whatever is installed on their Python path."""
    ray = import_ray()
    package_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    path = os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))
    runtime_env = {"env_vars": {"PYTHONPATH": path}}
    started = not ray.is_initialized()
    if started:
        if address:
            ray.init(address=address, log_to_driver=False)
        else:
            ray.init(num_cpus=num_cpus, log_to_driver=False, include_dashboard=False)
    try:
        # The runtime_env per task, so it holds on a Ray this process did not start too.
        # max_retries=0: a run that failed fails again the same way; its checkpoint lets a rerun resume.
        task = ray.remote(num_cpus=cpus_per_run, num_gpus=gpus_per_run, max_retries=0)(_ray_task)
        workdir = os.path.abspath(workdir)
        return ray.get([task.options(runtime_env=runtime_env).remote(name, config, workdir)
                        for name, config in planned])
    finally:
        if started:
            ray.shutdown()
