"""One side of a case in its own process, so each side's peak memory is its own.

Protocol (JSON lines): argv[1] is the Side; the worker builds it, runs the warm-up steps given in
argv[2] and prints {"ready": facts}; then for each stdin line {"steps": n} it prepares a repeat
(untimed), runs n steps and prints {"wall", "cpu"}; on {"quit": true} it prints {"maxrss_mb"}
and exits. Only this protocol goes to the real stdout; library prints go to stderr.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time

from artjax import runtime


def _tree_cpu_seconds() -> float:
    """CPU time of this process (getrusage: microseconds, so a short timed window is not 0 ticks),
    its live children (loader workers, from /proc) and its reaped children (getrusage), so workers
    that end inside the timed window still count."""
    ticks = os.sysconf("SC_CLK_TCK")
    me = os.getpid()
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the process ended meanwhile
        parents[int(entry)] = int(fields[1])
        times[int(entry)] = (int(fields[11]) + int(fields[12])) / ticks
    own, reaped = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    total = own.ru_utime + own.ru_stime + reaped.ru_utime + reaped.ru_stime
    for pid, seconds in times.items():
        if pid == me:
            continue
        p = pid
        while p > 1 and p != me:
            p = parents.get(p, 0)
        if p == me:
            total += seconds
    return total


def main() -> None:
    side_json, warmup = json.loads(sys.argv[1]), int(sys.argv[2])
    if side_json["framework"] == "artjax":
        extra = side_json["xla_flags"]
        if side_json["devices"]:
            extra += f" --xla_force_host_platform_device_count={side_json['devices']}"
        os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {extra}".strip()
        runtime.configure_xla_cpu()  # artjax's default, before JAX is imported
    from absl import flags

    flags.FLAGS(sys.argv[:1])  # grain's worker processes read absl flags; artjax's CLIs parse them in app.run
    protocol = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)

    from benchmarks.cases import Side

    side = Side.from_json(side_json)
    if side.framework == "artjax":
        from benchmarks import artjax_side as impl
    else:
        from benchmarks import torch_side as impl
    start = time.perf_counter()
    before, run, facts = impl.prepare(side)
    before()
    run(1)
    facts["first_step_s"] = round(time.perf_counter() - start, 2)
    for _ in range(warmup - 1):
        before()
        run(1)
    facts["xla_flags"] = os.environ.get("XLA_FLAGS", "") if side.framework == "artjax" else ""
    protocol.write(json.dumps({"ready": facts}) + "\n")
    for line in sys.stdin:
        message = json.loads(line)
        if message.get("quit"):
            break
        before()
        cpu0, t0 = _tree_cpu_seconds(), time.perf_counter()
        run(message["steps"])
        wall, cpu = time.perf_counter() - t0, _tree_cpu_seconds() - cpu0
        protocol.write(json.dumps({"wall": wall, "cpu": cpu}) + "\n")
    maxrss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    protocol.write(json.dumps({"maxrss_mb": round(maxrss_mb)}) + "\n")


if __name__ == "__main__":
    main()
