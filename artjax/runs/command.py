"""What the argparse commands (predict, embed, evaluate) share: the usage error, their `main`
wrapper, and finding and decoding the image files a user names."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TextIO

import numpy as np
from absl import logging

from artjax.data.decode import DecodeError, decode_image
from artjax.data.sources.files import IMAGE_EXTENSIONS
from artjax.eval.inference import threaded_map


class UsageError(Exception):
    """A command the tool cannot carry out at all (exit status 2)."""


def find_images(paths: Sequence[str]) -> tuple[list[str], list[str]]:
    """(image files, problems): folders are walked in sorted order for image extensions; files
    named explicitly are kept whatever their extension."""
    found, problems = [], []
    for path in paths:
        if os.path.isdir(path):
            for current, dirs, files in os.walk(path):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                found += [os.path.join(current, name) for name in sorted(files)
                          if not name.startswith(".") and os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS]
        elif os.path.isfile(path):
            found.append(path)
        else:
            problems.append(f"{path}: no such file or directory")
    return found, problems


def decoded(paths: Sequence[str], data: Any, unreadable: list[str], stderr: TextIO) -> Iterator[tuple[str, np.ndarray]]:
    """(path, RGB image) of every readable path, decoded in threads as the run's data config says;
    an unreadable one is reported on `stderr` and appended to `unreadable`."""

    def decode(path: str) -> tuple[str, np.ndarray | DecodeError]:
        try:
            return path, decode_image(path, max_pixels=data.max_pixels, draft_size=data.decode_short_side or None)
        except DecodeError as error:
            return path, error

    for path, image in threaded_map(decode, paths):
        if isinstance(image, DecodeError):
            unreadable.append(path)
            print(f"artjax: skipping {image}", file=stderr)
        else:
            yield path, image


def run_command(command: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """The exit status of `command(args)`; a UsageError is printed as one line, status 2."""
    logging.set_verbosity(logging.WARNING)  # orbax logs every restore at INFO
    try:
        return command(args)
    except UsageError as error:
        print(f"artjax: {error}", file=sys.stderr)
        return 2
