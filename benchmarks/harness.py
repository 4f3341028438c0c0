"""Runs a case: both sides in their own worker processes, timed alternately A B A B ... so that
both see the same machine load, only one of them busy at any time."""

from __future__ import annotations

import dataclasses
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.cases import Case, Side

REPO = Path(__file__).resolve().parent.parent
SETTLE_S = 0.3  # lets the idle side's spinning threads go to sleep before the other is timed


@dataclasses.dataclass
class SideResult:
    side: Side
    facts: dict[str, Any]
    images_per_s: list[float]
    busy_cores: list[float]
    maxrss_mb: int = 0

    @property
    def median(self) -> float:
        return statistics.median(self.images_per_s)


@dataclasses.dataclass
class Result:
    case: Case
    repeats: int
    steps: int
    a: SideResult
    b: SideResult

    @property
    def ratio(self) -> float:
        """Median images/s of A over B's."""
        return self.a.median / self.b.median

    @property
    def pair_ratios(self) -> list[float]:
        """A/B of each alternating pair: the spread of the ratio under changing machine load."""
        return [a / b for a, b in zip(self.a.images_per_s, self.b.images_per_s)]


class Worker:
    """One side's process, warmed up on start."""

    def __init__(self, side: Side, warmup: int) -> None:
        self.side = side
        self.process = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.worker", json.dumps(side.to_json()), str(warmup)],
            cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        self.facts = self._receive()["ready"]

    def _receive(self) -> dict[str, Any]:
        line = self.process.stdout.readline()
        if not line:
            code = self.process.wait()
            raise RuntimeError(f"benchmark worker for {self.side.label()} exited with status {code} "
                               "(its error is printed above)")
        return json.loads(line)

    def run(self, steps: int) -> dict[str, float]:
        self.process.stdin.write(json.dumps({"steps": steps}) + "\n")
        return self._receive()

    def finish(self) -> int:
        self.process.stdin.write(json.dumps({"quit": True}) + "\n")
        maxrss = self._receive()["maxrss_mb"]
        self.process.wait()
        return maxrss

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def run_case(case: Case, *, repeats: int, steps: int | None = None, warmup: int | None = None,
             log: Any = print) -> Result:
    steps = steps or case.steps
    warmup = case.warmup if warmup is None else warmup
    if repeats < 1 or steps < 1 or warmup < 1:
        raise ValueError("repeats, steps and warmup must be >= 1 (the first warm-up step compiles)")
    workers: list[Worker] = []
    try:
        for side in (case.a, case.b):  # one at a time: compilation and warm-up do not overlap
            log(f"[{case.name}] starting {side.label()} (warm-up {warmup} step(s))")
            workers.append(Worker(side, warmup))
        results = [SideResult(w.side, w.facts, [], []) for w in workers]
        for r in range(repeats):
            for worker, result in zip(workers, results):
                time.sleep(SETTLE_S)
                timing = worker.run(steps)
                batch = worker.side.batch
                result.images_per_s.append(steps * batch / timing["wall"])
                result.busy_cores.append(timing["cpu"] / timing["wall"])
            log(f"[{case.name}] repeat {r + 1}/{repeats}: "
                + "  ".join(f"{res.side.label()} {res.images_per_s[-1]:.2f} img/s" for res in results))
        for worker, result in zip(workers, results):
            result.maxrss_mb = worker.finish()
    finally:
        for worker in workers:
            worker.kill()
    return Result(case, repeats, steps, results[0], results[1])
