"""A data source from the command line: a TFDS ArrayRecord dataset (written here) feeds a CLI
training run of one epoch of the smoke quickstart, and the scan command fills the decoded-image
cache. Every source type, opened from the experiment config as the CLI opens it, is
tests/data/test_sources.py's (test_every_source_type_opens_from_the_experiment_config); a folder
source training from the CLI, tests/test_data_cli.py's."""

import json
import pathlib
import subprocess
import sys

from PIL import Image

sys.path.insert(0, str(pathlib.Path(__file__).parent / "data"))
from images import PAINTERS, PER_PAINTER, painter_png, painter_rows, write_painters, write_tfds  # noqa: E402

ROOT = pathlib.Path(__file__).parents[1]
QUICKSTART = str(ROOT / "experiments" / "quickstart.py") + ":smoke"


def test_tfds_dataset_trains_from_the_cli(tmp_path):
    rows = {split: [(path, painter_png(path, label), label) for path, label in painter_rows(split)]
            for split in ("train", "val")}
    write_tfds(tmp_path / "tfds", "ArtjaxCliPaintings", PAINTERS, {"train": rows["train"], "test": rows["val"]})
    workdir = tmp_path / "run"
    # The CLI process never saw the builder class: it reads the prepared files by name alone.
    args = [sys.executable, "-m", "artjax.main", "--config", QUICKSTART, "--workdir", str(workdir),
            "--config.train.epochs=1", "--config.train.batch_size=8", "--config.data.source=tfds",
            "--config.data.tfds_name=artjax_cli_paintings", f"--config.data.tfds_dir={tmp_path / 'tfds'}",
            "--config.data.tfds_val_split=test"]
    result = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads((workdir / "classes.json").read_text())["class_names"] == PAINTERS
    evals = [r for r in map(json.loads, (workdir / "metrics.jsonl").read_text().splitlines()) if r["split"] == "val"]
    assert len(evals) == 1
    assert evals[0]["count"] == len(rows["val"])
    assert evals[0]["per_class"]["name"] == PAINTERS and len(evals[0]["per_class"]["f1"]) == len(PAINTERS)


def test_scan_command_fills_the_decoded_image_cache(tmp_path):
    folder = write_painters(tmp_path / "paintings")
    args = [sys.executable, "-m", "artjax.data", "--config", QUICKSTART, "--config.data.source=folder",
            f"--config.data.root={folder}", f"--config.data.cache_dir={tmp_path / 'cache'}",
            "--config.data.cache_short_side=32"]
    result = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "decoded-image cache filled" in result.stdout
    entries = list((tmp_path / "cache").rglob("*.jpg"))
    assert len(entries) == len(PAINTERS) * PER_PAINTER  # train and validation images, each once
    assert all(Image.open(entry).size == (32, 32) for entry in entries)  # 40 px shrunk to 32
