"""`python -m benchmarks --case NAME [--case NAME ...] [--repeats 5] [--append BENCHMARKS.md]`;
`python -m benchmarks --list` lists the cases."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from benchmarks import harness, report
from benchmarks.cases import CASES, get_case


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--case", action="append", default=[], help="case name (repeatable)")
    parser.add_argument("--list", action="store_true", help="list the cases and exit")
    parser.add_argument("--repeats", type=int, default=5, help="timed repeats per side, alternating A B A B")
    parser.add_argument("--steps", type=int, default=None, help="steps per repeat (default: the case's)")
    parser.add_argument("--warmup", type=int, default=None, help="untimed steps first (default: the case's)")
    parser.add_argument("--append", type=Path, default=None, help="markdown file to append the rows to")
    args = parser.parse_args(argv)
    if args.list:
        for case in CASES.values():
            print(f"{case.name:32s} {case.group:16s} A: {case.a.label()} | B: {case.b.label()} | "
                  f"{case.a.model} {case.a.mode} batch {case.a.batch} @{case.a.size}")
        return 0
    if not args.case:
        parser.error("give --case NAME (or --list)")
    try:
        cases = [get_case(name) for name in args.case]
    except ValueError as error:
        parser.error(str(error))
    command = "python -m benchmarks " + " ".join(shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv))
    for case in cases:
        result = harness.run_case(case, repeats=args.repeats, steps=args.steps, warmup=args.warmup)
        print(report.row(result, command), end="")
        for side in (result.a, result.b):
            print(f"  {side.side.label()}: {side.facts}")
        if args.append:
            report.append(args.append, result, command)
    return 0


if __name__ == "__main__":
    sys.exit(main())
