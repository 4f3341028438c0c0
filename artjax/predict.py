"""Predict the classes of new images with a trained run.

    python -m artjax.predict --workdir DIR PATH... [--top-k 5] [--view VIEW]
        [--which best|latest | --step N] [--out preds.csv] [--batch-size 32] [--reject] [--neighbours K]

PATHs are image files or folders (walked recursively for image extensions). Each image is seen as
the run's evaluation sees it, through a view of artjax/eval/views.py (`full`: the eval transform;
`hflip`: it and its mirror image; `quadrants` / `random_quarter` / `pyramid`: crops each resized
to data.image_size, with per-crop votes for the quarter views; a pyramid model always gets its
pyramid crops) and normalised with
the model's preprocessing; the top-k classes are printed with their probabilities, temperature
scaled when the run's calibration.json was fitted for the checkpoint used (else a warning says
they are not). --reject adds "unknown artist (score S)" above the top-k of an image whose
open-set score falls below the threshold of DIR/openset.json (artjax/runs/calibrate.py).
--neighbours K lists below them the K nearest training works of the run's gallery (DIR/gallery.npz:
artist, cosine similarity, path), found with the image's embedding from the same model call. Unreadable
files are reported once on stderr and skipped. Exit status: 0 when at least one image was
predicted, 1 when every image was unreadable, 2 for a bad command (no run, no checkpoint, no
images).
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
from collections.abc import Sequence
from typing import TextIO

import numpy as np

from artjax.config import ConfigError
from artjax import rundir
from artjax.eval import openset, views
from artjax.eval.inference import Prediction, default_view
from artjax.rundir import RunDir
from artjax.runs import calibrate
from artjax.runs.command import UsageError, decoded, find_images, run_command
from artjax.runs import gallery as run_gallery
from artjax.runs.restore import WHICH, load_run


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m artjax.predict", description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", required=True, help="the run directory (config.json, checkpoints)")
    parser.add_argument("paths", nargs="+", metavar="PATH", help="image files or folders")
    parser.add_argument("--top-k", type=int, default=5, help="classes shown per image (default 5)")
    parser.add_argument("--view", choices=views.NAMES, default=None,
                        help="evaluation view (default: full; pyramid, the only view of pyramid models, "
                             "for those)")
    parser.add_argument("--which", choices=WHICH, default="best", help="checkpoint (default best)")
    parser.add_argument("--step", type=int, default=None, help="the checkpoint of this step instead")
    parser.add_argument("--out", default="", help="also write the predictions to this CSV file")
    parser.add_argument("--batch-size", type=int, default=32, help="crops per model call (default 32)")
    parser.add_argument("--reject", action="store_true",
                        help="flag images below the run's unknown-artist threshold (openset.json)")
    parser.add_argument("--neighbours", type=int, default=0, metavar="K",
                        help="also list the K nearest training works (the run's gallery.npz)")
    return parser


def _format(path: str, prediction: Prediction, class_names: Sequence[str], top_k: int, view: str,
            unknown: float | None = None, neighbours: Sequence[dict] = ()) -> str:
    width = max(len(n) for n in class_names)
    rejected = [] if unknown is None else [f"  unknown artist (score {unknown:.4f})"]
    lines = [path] + rejected + [f"  {rank}. {class_names[c]:<{width}}  {p:.4f}"
                      for rank, (c, p) in enumerate(prediction.top_k(top_k), 1)]
    if views.get(view).per_crop and prediction.votes is not None:
        lines.append(f"  crop votes: {_votes(prediction, class_names, sep=', ', joiner=' ')}")
    if neighbours:
        lines.append("  nearest training works:")
        lines += [f"    {n['class']:<{width}}  {n['similarity']:.4f}  {n['path']}" for n in neighbours]
    return "\n".join(lines)


def _votes(prediction: Prediction, class_names: Sequence[str], *, sep: str, joiner: str) -> str:
    votes = prediction.votes
    order = np.argsort(-votes, kind="stable")
    return sep.join(f"{class_names[c]}{joiner}{votes[c]}" for c in order if votes[c])


def _csv_header(top_k: int, view: str, reject: bool, neighbours: int) -> list[str]:
    header = ["path", "class", "prob"] + (["openset_score", "unknown"] if reject else [])
    for rank in range(1, top_k + 1):
        header += [f"class_{rank}", f"prob_{rank}"]
    for rank in range(1, neighbours + 1):
        header += [f"neighbour_{rank}_class", f"neighbour_{rank}_similarity", f"neighbour_{rank}_path"]
    return header + (["crop_votes"] if views.get(view).per_crop else [])


def _csv_row(path: str, prediction: Prediction, class_names: Sequence[str], top_k: int, view: str,
             rejection: tuple[float, bool] | None, neighbours: Sequence[dict]) -> list[str]:
    top = prediction.top_k(top_k)
    row = [path, class_names[top[0][0]], f"{top[0][1]:.6f}"]
    if rejection is not None:
        row += [f"{rejection[0]:.6f}", str(int(rejection[1]))]
    for c, p in top:
        row += [class_names[c], f"{p:.6f}"]
    for n in neighbours:
        row += [n["class"], f"{n['similarity']:.6f}", n["path"]]
    if views.get(view).per_crop:
        row.append(_votes(prediction, class_names, sep=";", joiner=":"))
    return row


def _threshold(workdir: str, step: int, view: str, stderr: TextIO) -> tuple[str, float]:
    """(score name, threshold) of the run's openset.json for --reject."""
    record = RunDir(workdir).read_openset()
    if record is None:
        raise UsageError(f"--reject: {workdir} has no {rundir.OPENSET} (runs write it at their end; "
                         f"`python -m artjax.report` does not)")
    if record["checkpoint_step"] != step or record["view"] != view:
        print(f"artjax: warning: the unknown-artist threshold was chosen for step {record['checkpoint_step']}, view "
              f"{record['view']}; this prediction uses step {step}, view {view}", file=stderr)
    return record["score"], float(record["threshold"])


def predict(args: argparse.Namespace, stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    """Runs the command of the parsed `args`; returns the exit status, raises UsageError."""
    stdout, stderr = stdout or sys.stdout, stderr or sys.stderr  # looked up now: tests swap them
    if not os.path.isdir(args.workdir):
        raise UsageError(f"--workdir {args.workdir}: no such directory")
    if args.top_k < 1 or args.batch_size < 1 or args.neighbours < 0:
        raise UsageError("--top-k and --batch-size must be >= 1, --neighbours >= 0")
    paths, problems = find_images(args.paths)
    if not paths:
        raise UsageError(f"no images found in {'; '.join(problems or args.paths)}")
    for problem in problems:
        print(f"artjax: {problem}", file=stderr)
    if args.out and (os.path.isdir(args.out) or not os.path.isdir(os.path.dirname(os.path.abspath(args.out)))):
        raise UsageError(f"--out {args.out}: not a file in an existing directory")
    try:
        run = load_run(args.workdir, which=args.which, step=args.step)
    except (FileNotFoundError, ConfigError, ValueError) as error:  # not a run, no (intact) checkpoint, bad config
        raise UsageError(str(error)) from None
    calibrated = calibrate.temperature(args.workdir, run.step)
    if calibrated.stale:
        print(f"artjax: warning: {calibrated.note}", file=stderr)
    record = RunDir(args.workdir).read_openset() if args.reject else None
    needs_gallery = args.neighbours > 0 or (record is not None and openset.requires_gallery(record["score"]))
    try:  # without --view, the gallery's own view (its embeddings and the query's must match)
        gallery = run_gallery.load(args.workdir, step=run.step, view=args.view) if needs_gallery else None
    except run_gallery.StaleGallery as error:
        raise UsageError(str(error)) from None
    if needs_gallery and gallery is None:
        raise UsageError(f"{args.workdir} has no {rundir.GALLERY} (runs with eval.gallery write it at their end)")
    view = args.view or (gallery.view if gallery else default_view(run.model))
    threshold = _threshold(args.workdir, run.step, view, stderr) if args.reject else None
    classifier = run.classifier(batch_size=args.batch_size, temperature=calibrated.value, embed=needs_gallery)
    try:
        classifier.check_view(view)
    except ValueError as error:
        raise UsageError(str(error)) from None
    data = run.config.data
    transform = run.eval_transform()
    top_k = min(args.top_k, len(run.class_names))
    unreadable: list[str] = []

    predicted = 0
    try:
        out = open(args.out, "w", newline="") if args.out else None
    except OSError as error:
        raise UsageError(f"--out {args.out}: {error.strerror}") from None
    try:
        writer = csv.writer(out) if out else None
        if writer:
            writer.writerow(_csv_header(top_k, view, threshold is not None, args.neighbours))
        images = decoded(paths, data, unreadable, stderr)
        for path, prediction in classifier.predict(images, view=view, transform=transform, image_size=data.image_size):
            nearest = gallery.neighbours(prediction.embedding, max(args.neighbours, 1))[0] if gallery else []
            rejection = None
            if threshold is not None:
                context = {"gallery_similarity": np.array([nearest[0]["similarity"]])} if gallery else {}
                score = float(openset.score(threshold[0], prediction.logits[None], context)[0])
                rejection = score, score < threshold[1]
            unknown = rejection[0] if rejection and rejection[1] else None
            shown = nearest[:args.neighbours]
            print(_format(path, prediction, run.class_names, top_k, view, unknown, shown), file=stdout)
            if writer:
                writer.writerow(_csv_row(path, prediction, run.class_names, top_k, view, rejection, shown))
            predicted += 1
    finally:
        if out:
            out.close()
    written = f"; wrote {args.out}" if args.out else ""
    chosen = "chosen" if args.step is not None else args.which
    print(f"artjax: predicted {predicted} image(s) with the {chosen} checkpoint (step {run.step}), "
          f"view {view}, probabilities {calibrated.note}; skipped {len(unreadable)} unreadable file(s){written}",
          file=stderr)
    return 0 if predicted else 1


def main(argv: Sequence[str] | None = None) -> int:
    return run_command(predict, _parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
