"""Messy image folders end to end: the scan command lists bad files, training skips them once
each, and strict mode stops before training with the list."""

import pathlib
import subprocess
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).parent / "data"))
from images import flat_image, write_png, write_zoo  # noqa: E402

ROOT = pathlib.Path(__file__).parents[1]
QUICKSTART = str(ROOT / "experiments" / "quickstart.py") + ":smoke"


@pytest.fixture(scope="module")
def messy(tmp_path_factory):
    """A training folder of 16 files (so batches of 4 read them all), 3 of them unreadable."""
    root = tmp_path_factory.mktemp("messy")
    zoo = write_zoo(root / "train" / "odd")
    for i in range(16 - len(zoo)):
        write_png(root / "train" / "plain" / f"{i}.png", flat_image(20 * i, 12, 9))
    for name in ("odd", "plain"):
        write_png(root / "val" / name / "0.png", flat_image(99, 12, 9))
    return root, sorted(str(path) for name, path in zoo.items() if name.startswith("bad_"))


def _run(module, root, *extra):
    args = [sys.executable, "-m", module, "--config", QUICKSTART, "--config.data.source=folder",
            f"--config.data.root={root / 'train'}", f"--config.data.val_root={root / 'val'}", *extra]
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_scan_lists_every_bad_file(messy):
    root, bad = messy
    result = _run("artjax.data", root)
    assert result.returncode == 1, result.stderr
    assert "unreadable files: " in result.stdout
    listed = [path for path in bad if path in result.stdout]
    assert listed == bad
    assert "odd" in result.stdout and "plain" in result.stdout  # class counts


def test_training_skips_bad_files_once_each_and_counts_them(messy, tmp_path):
    root, bad = messy
    result = _run("artjax.main", root, f"--workdir={tmp_path}", "--config.train.batch_size=4")
    assert result.returncode == 0, result.stderr[-3000:]
    for path in bad:
        assert result.stderr.count(path) == 1, path  # reported once, over both epochs and splits
    assert f"skipped {len(bad)} unreadable image(s)" in result.stdout


def test_strict_stops_before_training_with_the_list(messy, tmp_path):
    root, bad = messy
    result = _run("artjax.main", root, f"--workdir={tmp_path}", "--config.data.strict=True")
    assert result.returncode == 1
    assert "data.strict" in result.stderr and all(path in result.stderr for path in bad)
    assert not (tmp_path / "metrics.jsonl").exists()
