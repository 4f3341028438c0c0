"""What JAX's persistent compilation cache saves a rerun: the same CLI training started with an
empty cache and then with the cache the cold run filled, alternated, in fresh workdirs.

    python -m benchmarks.compile_cache [--pairs 3] -- --config experiments/quickstart.py:smoke [--config.a.b=v ...]

Prints one markdown row: the median seconds from process start to the first logged train step
(`metrics.jsonl` appears; the run logs every step) and to the process's exit, cold and warm,
and their ratios. The run's own `compile_cache = auto` is what is measured, through
ARTJAX_CACHE_DIR (JAX_COMPILATION_CACHE_DIR is cleared so that it does not take over).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time


def _once(args: list[str], cache: str, workdir: str) -> tuple[float, float]:
    """(seconds to the first logged step, seconds to exit) of one run."""
    shutil.rmtree(workdir, ignore_errors=True)
    env = {k: v for k, v in os.environ.items() if k != "JAX_COMPILATION_CACHE_DIR"}
    env["ARTJAX_CACHE_DIR"] = cache
    metrics = os.path.join(workdir, "metrics.jsonl")
    start = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "artjax.main", *args, "--workdir", workdir,
                             "--config.train.log_every_steps=1"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    first = None
    while proc.poll() is None:
        if first is None and os.path.exists(metrics):
            first = time.monotonic() - start
        time.sleep(0.05)
    if proc.returncode != 0 or first is None:
        raise SystemExit(f"compile_cache: the run exited with status {proc.returncode} before logging a step")
    return first, time.monotonic() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=3, help="cold + warm pairs (medians are quoted)")
    parser.add_argument("run", nargs=argparse.REMAINDER, help="-- then the artjax.main arguments")
    options = parser.parse_args()
    args = options.run[1:] if options.run[:1] == ["--"] else options.run
    with tempfile.TemporaryDirectory() as scratch:
        cache, workdir = os.path.join(scratch, "cache"), os.path.join(scratch, "run")
        cold, warm = [], []
        for _ in range(options.pairs):
            shutil.rmtree(cache, ignore_errors=True)
            cold.append(_once(args, cache, workdir))
            warm.append(_once(args, cache, workdir))
    median = [[statistics.median(r[i] for r in runs) for i in (0, 1)] for runs in (cold, warm)]
    (cold_first, cold_exit), (warm_first, warm_exit) = median
    print(f"| {time.strftime('%Y-%m-%d')} | `{' '.join(args)}` | {cold_first:.1f} / {warm_first:.1f} "
          f"| **{cold_first / warm_first:.1f}x** | {cold_exit:.1f} / {warm_exit:.1f} | **{cold_exit / warm_exit:.1f}x** "
          f"| {options.pairs} | {platform.processor() or platform.machine()}, {os.cpu_count()} cores |")


if __name__ == "__main__":
    main()
