"""Write the embeddings of images under a trained run's model.

    python -m artjax.embed --workdir DIR PATH... --out FILE.npz [--view VIEW]
        [--which best|latest | --step N] [--batch-size 32]

PATHs are image files or folders, found and decoded as `artjax.predict` does, and seen through
the run's evaluation view (default: the view of the run's gallery, else `full`; a pyramid model's
pyramid). An embedding is the pooled features the head sees, combined over the view's crops and
L2-normalised (artjax/eval/scoring.embed_view), computed in the same model call as the
prediction. FILE.npz holds `paths`, `labels` (the class index when an image's folder is named
for one of the run's classes, else -1), `embeddings` (images x width, float32), `class_names`,
`predicted` (the head's class), `checkpoint_step` and `view`. Unreadable files are reported on
stderr and left out. Exit status as predict's: 0, 1 when no image was readable, 2 for a bad
command.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

import numpy as np

from artjax.config import ConfigError
from artjax.eval import views
from artjax.eval.inference import default_view
from artjax.runs import gallery as run_gallery
from artjax.runs.command import UsageError, decoded, find_images, run_command
from artjax.runs.restore import WHICH, load_run


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m artjax.embed", description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", required=True, help="the run directory (config.json, checkpoints)")
    parser.add_argument("paths", nargs="+", metavar="PATH", help="image files or folders")
    parser.add_argument("--out", required=True, help="the .npz file to write")
    parser.add_argument("--view", choices=views.NAMES, default=None, help="evaluation view (default: the gallery's)")
    parser.add_argument("--which", choices=WHICH, default="best", help="checkpoint (default best)")
    parser.add_argument("--step", type=int, default=None, help="the checkpoint of this step instead")
    parser.add_argument("--batch-size", type=int, default=32, help="crops per model call (default 32)")
    return parser


def embed(args: argparse.Namespace) -> int:
    """Runs the command of the parsed `args`; returns the exit status, raises UsageError."""
    if not os.path.isdir(args.workdir):
        raise UsageError(f"--workdir {args.workdir}: no such directory")
    if args.batch_size < 1:
        raise UsageError("--batch-size must be >= 1")
    if not args.out.endswith(".npz") or not os.path.isdir(os.path.dirname(os.path.abspath(args.out))):
        raise UsageError(f"--out {args.out}: not a .npz file in an existing directory")
    paths, problems = find_images(args.paths)
    if not paths:
        raise UsageError(f"no images found in {'; '.join(problems or args.paths)}")
    for problem in problems:
        print(f"artjax: {problem}", file=sys.stderr)
    try:
        run = load_run(args.workdir, which=args.which, step=args.step)
    except (FileNotFoundError, ConfigError, ValueError) as error:  # not a run, no (intact) checkpoint, bad config
        raise UsageError(str(error)) from None
    try:
        gallery = run_gallery.load(args.workdir, step=run.step) if args.view is None else None
    except run_gallery.StaleGallery:
        gallery = None  # another checkpoint's gallery: its view is no guide
    view = args.view or (gallery.view if gallery else default_view(run.model))
    classifier = run.classifier(batch_size=args.batch_size, embed=True)
    try:
        classifier.check_view(view)
    except ValueError as error:
        raise UsageError(str(error)) from None
    label_of = {name: i for i, name in enumerate(run.class_names)}
    unreadable: list[str] = []
    found, embeddings, predicted = [], [], []
    images = decoded(paths, run.config.data, unreadable, sys.stderr)
    for path, prediction in classifier.predict(images, view=view, transform=run.eval_transform(),
                                               image_size=run.config.data.image_size):
        found.append(path)
        embeddings.append(prediction.embedding)
        predicted.append(int(prediction.probs.argmax()))
    if not found:
        print(f"artjax: no readable image ({len(unreadable)} unreadable)", file=sys.stderr)
        return 1
    labels = [label_of.get(os.path.basename(os.path.dirname(os.path.abspath(p))), -1) for p in found]
    np.savez(args.out, paths=np.asarray(found, dtype=str), labels=np.asarray(labels, np.int64),
             embeddings=np.stack(embeddings), predicted=np.asarray(predicted, np.int64),
             class_names=np.asarray(run.class_names, dtype=str), checkpoint_step=run.step, view=view)
    print(f"artjax: wrote {len(found)} embeddings ({embeddings[0].shape[0]} wide, {run.checkpoint_name}, view {view}) "
          f"to {args.out}; {sum(label >= 0 for label in labels)} with a known class; skipped {len(unreadable)} "
          f"unreadable file(s)", file=sys.stderr)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return run_command(embed, _parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
