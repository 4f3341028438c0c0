"""Write (or rewrite) a run's HTML report, DIR/report/index.html.

    python -m artjax.report --workdir DIR [--which best|latest | --step N]

Every run ends with `artjax.runs.finish.finish_run`, which writes it; this command regenerates
it, e.g. after an interrupted run or for a run trained by an older artjax. What cannot be made (no
checkpoint yet, validation data no longer reachable) is listed on the page instead.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from absl import logging

from artjax.runs.report import write_report
from artjax.runs.restore import WHICH


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m artjax.report", description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", required=True, help="the run directory")
    parser.add_argument("--which", choices=WHICH, default=None,
                        help="checkpoint whose predictions fill the gallery and table (default: the run's "
                             "checkpoint.select)")
    parser.add_argument("--step", type=int, default=None, help="the checkpoint of this step instead")
    args = parser.parse_args(argv)
    logging.set_verbosity(logging.WARNING)  # orbax logs every restore at INFO
    try:
        path = write_report(args.workdir, which=args.which, step=args.step)
    except (FileNotFoundError, PermissionError) as error:
        print(f"artjax: {error}", file=sys.stderr)
        return 2
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
