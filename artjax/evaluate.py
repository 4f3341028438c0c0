"""Score a labelled test set with a trained run.

    python -m artjax.evaluate --workdir DIR [PATH ...] [--which best|latest | --step N]
        [--view VIEW] [--batch-size 32]

PATHs are folders of class folders or CSV manifests (the run's data.path_column and
data.label_column; relative paths against the CSV's folder), scored together as one set; without
PATHs, the test set the run's config names (data.test_csv / data.test_root). Class names must be
the run's (classes.json). Each image is seen through the run's evaluation view (`--view` another
one of artjax/eval/views.py) by the checkpoint the run's checkpoint.select names (`--which` or
`--step` another). Prints accuracy, macro-F1 and the per-class report; writes DIR/test_metrics.json,
DIR/report/test.html and DIR/report/test_predictions.csv (artjax/runs/evaluate.py). Unreadable
files are reported once on stderr and skipped. Exit status: 0 when at least one image was scored,
1 when every image was unreadable, 2 for a bad command (no run, no checkpoint, no images, a class
the run does not know).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TextIO

from artjax.eval import views
from artjax.eval.report import NothingReadable
from artjax.runs.evaluate import evaluate_test_set, format_result
from artjax.runs.command import UsageError, run_command
from artjax.runs.restore import WHICH


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m artjax.evaluate", description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", required=True, help="the run directory (config.json, checkpoints)")
    parser.add_argument("paths", nargs="*", metavar="PATH",
                        help="folders of class folders or CSV manifests (default: the run's data.test_*)")
    parser.add_argument("--view", choices=views.NAMES, default=None,
                        help="evaluation view (default: the run's eval.view; pyramid for pyramid models)")
    parser.add_argument("--which", choices=WHICH, default=None,
                        help="checkpoint (default: the run's checkpoint.select)")
    parser.add_argument("--step", type=int, default=None, help="the checkpoint of this step instead")
    parser.add_argument("--batch-size", type=int, default=32, help="crops per model call (default 32)")
    return parser


def evaluate(args: argparse.Namespace, stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    """Runs the command of the parsed `args`; returns the exit status, raises UsageError."""
    stdout, stderr = stdout or sys.stdout, stderr or sys.stderr  # looked up now: tests swap them
    if args.batch_size < 1:
        raise UsageError("--batch-size must be >= 1")
    try:
        result = evaluate_test_set(args.workdir, args.paths, which=args.which, step=args.step, view=args.view,
                                   batch_size=args.batch_size)
    except NothingReadable as error:
        print(f"artjax: {error}", file=stderr)
        return 1
    except (FileNotFoundError, ValueError) as error:  # no run / checkpoint, a bad test set or view
        raise UsageError(" ".join(str(error).split())) from None
    for reason in result.skipped:
        print(f"artjax: skipping {reason}", file=stderr)
    print(format_result(result), file=stdout)
    s = result.scores
    print(f"artjax: scored {s['count']} image(s) of {s['test_set']} with the {s['checkpoint']} checkpoint "
          f"(step {s['step']}), view {s['view']}; skipped {len(result.skipped)} unreadable file(s); "
          f"wrote {result.page}", file=stderr)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return run_command(evaluate, _parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
