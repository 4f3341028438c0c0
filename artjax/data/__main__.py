"""Scan a data config before training: class counts, image sizes and every unreadable file.

    python -m artjax.data --config experiments/x.py[:variant] [--threads 4] [--config.data.root=...]

Exit status 1 when unreadable files were found, so scripts can stop before a long run. With
`data.cache_dir` set, the scan also fills the decoded-image cache (every image is decoded once
anyway), so that the first training epoch already reads the small copies.
"""

from __future__ import annotations

import sys

from artjax import cli

from absl import app, flags  # noqa: E402

FILE_SOURCES = ("folder", "csv", "wikiart")  # the sources whose images the cache holds
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
    if config.data.cache_dir and config.data.source in FILE_SOURCES:
        print(f"decoded-image cache filled: {config.data.cache_dir} (short side <= {config.data.cache_short_side})")
    sys.exit(1 if found_bad else 0)


if __name__ == "__main__":
    app.run(main, flags_parser=cli.parse_flags)
