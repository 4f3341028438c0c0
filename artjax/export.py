"""Export a trained run's model as a `jax.export` artifact that needs jax alone to run.

    python -m artjax.export --workdir DIR --out MODEL_DIR [--which best|latest] [--force]

MODEL_DIR gets model.jaxexport (uint8 images -> calibrated class probabilities), gradcam.jaxexport
(not for pyramid models) and manifest.json (classes, the evaluation transform, temperature,
checkpoint, versions); `artjax.serving.load(MODEL_DIR)` runs them without flax
(artjax/runs/export.py). Exit status: 0, or 2 for a bad command (no run, no checkpoint, MODEL_DIR
not empty without --force).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from collections.abc import Sequence

from artjax.config import ConfigError
from artjax.runs.command import UsageError, run_command
from artjax.runs.export import export_run
from artjax.runs.restore import WHICH, load_run


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m artjax.export", description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", required=True, help="the run directory (config.json, checkpoints)")
    parser.add_argument("--out", required=True, metavar="MODEL_DIR", help="the directory to write (new or empty)")
    parser.add_argument("--which", choices=WHICH, default="best", help="checkpoint (default best)")
    parser.add_argument("--force", action="store_true", help="replace the files of a non-empty MODEL_DIR")
    return parser


def export(args: argparse.Namespace) -> int:
    """Runs the command of the parsed `args`; returns the exit status, raises UsageError."""
    if not os.path.isdir(args.workdir):
        raise UsageError(f"--workdir {args.workdir}: no such directory")
    if os.path.exists(args.out) and not os.path.isdir(args.out):
        raise UsageError(f"--out {args.out}: exists and is not a directory")
    if os.path.isdir(args.out) and os.listdir(args.out) and not args.force:
        raise UsageError(f"--out {args.out}: exists and is not empty (--force replaces it)")
    try:
        run = load_run(args.workdir, which=args.which)
    except (FileNotFoundError, ConfigError, ValueError) as error:  # not a run, no (intact) checkpoint, bad config
        raise UsageError(str(error)) from None
    if os.path.isdir(args.out):
        shutil.rmtree(args.out)
    os.makedirs(args.out)
    manifest = export_run(run, args.workdir, args.out)
    for warning in manifest["warnings"]:
        print(f"artjax: warning: {warning}", file=sys.stderr)
    print(f"exported {run.checkpoint_name} of {args.workdir} ({manifest['model']}, {len(manifest['class_names'])} "
          f"classes, temperature {manifest['temperature']:.4f}) to {args.out}: {', '.join(manifest['files'])}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return run_command(export, _parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
