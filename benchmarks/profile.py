"""Where an artjax step spends its time on the CPU: XLA's per-operation events of a few timed
steps (jax.profiler trace, read back with jax.profiler.ProfileData, no TensorBoard needed),
summed by operation kind and by operation.

    python -m benchmarks.profile --model resnet50 --mode train --batch 16 --size 224 [--steps 2]
"""

from __future__ import annotations

import argparse
import collections
import glob
import os
import re
import sys
import tempfile

from artjax import runtime


_HLO_NAME = re.compile(r"^[a-z][\w\-]*(\.\d+)?$")  # XLA instruction names: 'convolution.12', 'add_fusion'


def _kind(name: str) -> str:
    """The operation kind of an XLA CPU thunk/kernel name ('convolution.12' -> 'convolution')."""
    base = re.sub(r"[._]\d+$", "", name.split(":")[0])
    for kind in ("all-reduce", "convolution", "dot", "fusion", "reduce", "copy", "transpose", "select",
                 "scatter", "gather", "pad", "slice", "concatenate"):
        if kind in base:
            return kind
    return base


def summarize(trace_dir: str, top: int) -> str:
    from jax.profiler import ProfileData

    (path,) = glob.glob(os.path.join(trace_dir, "**", "*.xplane.pb"), recursive=True)
    by_op: collections.Counter[str] = collections.Counter()
    for plane in ProfileData.from_file(path).planes:
        if not plane.name.startswith("/host:CPU"):
            continue
        for line in plane.lines:
            if not line.name.startswith("tf_XLAEigen"):
                continue  # the compute threads; the others are Python and the executor
            for event in line.events:
                if event.name == "Rendezvous":  # a device waiting for the other at a collective
                    by_op["(waiting at collectives)"] += event.duration_ns
                elif _HLO_NAME.match(event.name):
                    by_op[event.name] += event.duration_ns
    total = sum(by_op.values()) or 1
    by_kind: collections.Counter[str] = collections.Counter()
    for name, ns in by_op.items():
        by_kind[_kind(name)] += ns
    lines = [f"operation time summed over compute threads: {total / 1e9:.2f} s", "", "| kind | share |", "|---|---|"]
    lines += [f"| {kind} | {ns / total:.1%} |" for kind, ns in by_kind.most_common(12)]
    lines += ["", "| operation | share |", "|---|---|"]
    lines += [f"| {name} | {ns / total:.1%} |" for name, ns in by_op.most_common(top)]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile", description=__doc__)
    parser.add_argument("--model", default="resnet50")
    parser.add_argument("--mode", choices=("train", "inference"), default="train")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--num-classes", type=int, default=1000)
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--steps", type=int, default=2, help="profiled steps (after two warm-up steps)")
    parser.add_argument("--top", type=int, default=15, help="operations listed")
    args = parser.parse_args(argv)
    runtime.configure_xla_cpu()
    import jax

    from benchmarks import artjax_side
    from benchmarks.cases import Side

    side = Side("artjax", model=args.model, mode=args.mode, batch=args.batch, size=args.size,
                num_classes=args.num_classes, dtype=args.dtype)
    _, run, _ = artjax_side.prepare(side)
    run(2)
    with tempfile.TemporaryDirectory() as trace_dir:
        jax.profiler.start_trace(trace_dir)
        run(args.steps)
        jax.profiler.stop_trace()
        print(summarize(trace_dir, args.top))
    return 0


if __name__ == "__main__":
    sys.exit(main())
