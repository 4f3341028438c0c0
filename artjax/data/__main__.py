"""Scan a data config before training: class counts, image sizes and every unreadable file.

    python -m artjax.data --config experiments/x.py[:variant] [--threads 4] [--config.data.root=...]

Exit status 1 when unreadable files were found, so scripts can stop before a long run.
"""

from __future__ import annotations

import sys

from artjax import cli

from absl import app, flags  # noqa: E402

_THREADS = flags.DEFINE_integer("threads", 4, "decoding threads")


def main(argv: list[str]) -> None:
    config = cli.validated_config(argv)
    from artjax.data import catalog, scan

    try:
        sources = catalog.open_sources(config.data)
    except (FileNotFoundError, ValueError) as error:
        cli.fail(str(error), status=1)
    found_bad = False
    for split, source in zip(("train", "val"), sources):
        report = scan.scan_source(source, threads=_THREADS.value)
        print(f"== {split} ==")
        print(scan.format_report(report))
        found_bad = found_bad or bool(report.bad)
    sys.exit(1 if found_bad else 0)


if __name__ == "__main__":
    app.run(main, flags_parser=cli.parse_flags)
