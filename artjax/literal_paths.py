"""Paths are literal everywhere in artjax, glob characters included.

Orbax lists a checkpoint's files through etils' `epath.Path.glob`, which joins the directory and
the pattern and hands the whole string to `glob.glob`: a `[`, `]`, `*` or `?` in the directory
(`runs/r50[lr=0.1]`, a common sweep name) turns it into a pattern, nothing matches, and a
checkpoint saved there can never be restored. `install()` makes the local-filesystem glob treat
the directory part literally; only the pattern orbax appends stays a pattern. Cloud paths
(gs://, s3://) go through their own backends and are left alone.
"""

from __future__ import annotations

import glob
import os

from etils.epath import gpath

_original_glob = gpath._GPath.glob


def _literal_glob(self: gpath._GPath, pattern: str):  # noqa: ANN202 (etils' own iterator type)
    if self._uri_scheme is not None:
        return _original_glob(self, pattern)
    return (self._new(found) for found in glob.glob(os.path.join(glob.escape(self._path_str), pattern)))


def install() -> None:
    """Idempotent; called by every module that hands paths to orbax."""
    gpath._GPath.glob = _literal_glob
