"""Scan a data config before training: the classes kept (data.top_classes), class counts, image
sizes and every unreadable file.

    python -m artjax.data --config experiments/x.py[:variant] [--threads 4] [--config.data.root=...]

Exit status 1 when unreadable files were found, or files with identical pixels in both splits,
so scripts can stop before a long run (files repeated by path already fail when the splits open). With
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
    from artjax.data.sources import wikiart

    try:
        sources = catalog.open_sources(config.data)
    except (FileNotFoundError, ValueError) as error:
        cli.fail(str(error), status=1)
    selection = catalog.class_selection(*sources)
    if selection is not None:  # data.top_classes: the classes a run of this config would train on
        print(wikiart.describe_selection(selection))
    reports = []
    for split, source in zip(("train", "val"), sources):
        reports.append(scan.scan_source(source, threads=_THREADS.value))
        print(f"== {split} ==")
        print(scan.format_report(reports[-1]))
    train_ids = set(reports[0].digests)
    groups = scan.identical_contents(*reports)
    leaking = [group for group in groups if train_ids & set(group) and set(group) - train_ids]
    print(f"files with identical pixels: {len(groups)} group(s), {len(leaking)} across train and val")
    for group in groups:
        print(f"  {' = '.join(group)}")
    found_bad = any(report.bad for report in reports) or bool(leaking)
    if config.data.cache_dir and config.data.source in FILE_SOURCES:
        print(f"decoded-image cache filled: {config.data.cache_dir} (short side <= {config.data.cache_short_side})")
    sys.exit(1 if found_bad else 0)


if __name__ == "__main__":
    app.run(main, flags_parser=cli.parse_flags)
