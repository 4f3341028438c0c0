"""Time and peak memory to index a CSV manifest of 1,000,000 rows (issue 5's target: < 30 s, < 1 GB).

    python -m benchmarks.csv_index [--rows 1000000] [--classes 1000]

Writes a generated manifest (`img_path,artist`, WikiArt-like relative paths) to the system temp
directory, then opens it in a fresh process exactly as training does (`make_source` on a csv
config: read the manifest, map labels, stratified hold-out split). The files need not exist:
indexing never opens or stats an image. Peak memory is that process's maximum resident set,
reported beside the same figure right after the imports, so the index's own share is visible.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time


def _write_manifest(path: str, rows: int, classes: int) -> None:
    with open(path, "w", encoding="utf-8") as f:
        f.write("img_path,artist\n")
        for i in range(rows):
            artist = f"artist_{i % classes:04d}"
            f.write(f"{artist}/painting_{i:07d}_of_a_long_title.jpg,{artist}\n")


def _index(path: str) -> dict[str, float]:
    """Runs in the child process."""

    from artjax.config import defaults
    from artjax.data.sources import make_source

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    data = defaults().data
    data.update(source="csv", csv=path, root=os.path.dirname(path), path_column="img_path", label_column="artist")
    start = time.perf_counter()
    source = make_source(data, "train")
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"rows_indexed": len(source), "classes": len(source.class_names), "seconds": round(seconds, 2),
            "peak_mb": round(peak), "peak_after_imports_mb": round(before)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.csv_index", description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--classes", type=int, default=1000)
    parser.add_argument("--index", default="", help=argparse.SUPPRESS)  # the child process's role
    args = parser.parse_args(argv)
    if args.index:
        print(json.dumps(_index(args.index)))
        return 0
    with tempfile.TemporaryDirectory() as directory:
        manifest = os.path.join(directory, "train.csv")
        _write_manifest(manifest, args.rows, args.classes)
        size_mb = os.path.getsize(manifest) / 2**20
        child = subprocess.run([sys.executable, "-m", "benchmarks.csv_index", "--index", manifest],
                               capture_output=True, text=True, check=True)
    result = json.loads(child.stdout.strip().splitlines()[-1])
    print(f"{args.rows:,} rows ({size_mb:.0f} MB manifest, {args.classes} classes): indexed in "
          f"{result['seconds']} s, peak memory {result['peak_mb']} MB "
          f"({result['peak_after_imports_mb']} MB after imports); {result['rows_indexed']:,} training rows "
          f"after the hold-out split")
    return 0


if __name__ == "__main__":
    sys.exit(main())
