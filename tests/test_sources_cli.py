"""Every data source type feeds a training run of the CLI: folder, CSV manifest, ArtGAN WikiArt
split files, a TFDS ArrayRecord dataset (written here) and an .npz of arrays. Each run trains one
epoch of the smoke quickstart on 3 classes x 8 generated images and must finish with validation
metrics over the 3 classes and the class names saved in the workdir."""

import io
import json
import pathlib
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

sys.path.insert(0, str(pathlib.Path(__file__).parent / "data"))
from images import write_tfds  # noqa: E402

ROOT = pathlib.Path(__file__).parents[1]
QUICKSTART = str(ROOT / "experiments" / "quickstart.py") + ":smoke"
CLASSES = ["cezanne", "degas", "monet"]
PER_CLASS = 8
SIZE = 40


def _image(label: int, i: int) -> np.ndarray:
    """A 40 px image whose colour says its class, with per-image shading."""
    image = np.full((SIZE, SIZE, 3), 40 + 10 * i, np.uint8)
    image[..., label] = 200
    return image


def _png(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> pathlib.Path:
    """<root>/<class>/<i>.png, 3 x 8 images."""
    root = tmp_path_factory.mktemp("folder")
    for label, name in enumerate(CLASSES):
        (root / name).mkdir()
        for i in range(PER_CLASS):
            (root / name / f"{i}.png").write_bytes(_png(_image(label, i)))
    return root


def _rows(split: str) -> list[tuple[str, int]]:
    """(relative path, label) of the first 6 (train) or last 2 (val) images of each class."""
    picked = range(6) if split == "train" else range(6, PER_CLASS)
    return [(f"{name}/{i}.png", label) for label, name in enumerate(CLASSES) for i in picked]


def _train(workdir: pathlib.Path, *overrides: str) -> subprocess.CompletedProcess:
    args = [sys.executable, "-m", "artjax.main", "--config", QUICKSTART, "--workdir", str(workdir),
            "--config.train.epochs=1", "--config.train.batch_size=8", *overrides]
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)


def _check_run(workdir: pathlib.Path, result: subprocess.CompletedProcess, val_count: int,
               classes: list[str] = CLASSES) -> None:
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads((workdir / "classes.json").read_text())["class_names"] == classes
    evals = [r for r in map(json.loads, (workdir / "metrics.jsonl").read_text().splitlines()) if r["split"] == "val"]
    assert len(evals) == 1
    assert evals[0]["count"] == val_count
    assert evals[0]["per_class"]["name"] == classes and len(evals[0]["per_class"]["f1"]) == len(classes)


def test_folder(folder, tmp_path):
    workdir = tmp_path / "run"
    result = _train(workdir, "--config.data.source=folder", f"--config.data.root={folder}")
    _check_run(workdir, result, val_count=6)  # stratified hold-out: 20 % of 8 = 2 per class


def test_csv(folder, tmp_path):
    manifest = tmp_path / "train.csv"
    manifest.write_text("img_path,artist\n" + "".join(f"{path},{CLASSES[label]}\n"
                                                     for path, label in _rows("train") + _rows("val")))
    workdir = tmp_path / "run"
    result = _train(workdir, "--config.data.source=csv", f"--config.data.csv={manifest}",
                    f"--config.data.root={folder}")
    _check_run(workdir, result, val_count=6)


def test_wikiart_split_files(folder, tmp_path):
    (tmp_path / "artist_class.txt").write_text("".join(f"{i} {name}\n" for i, name in enumerate(CLASSES)))
    for split in ("train", "val"):
        (tmp_path / f"artist_{split}.csv").write_text("".join(f"{path},{label}\n" for path, label in _rows(split)))
    workdir = tmp_path / "run"
    result = _train(workdir, "--config.data.source=wikiart", f"--config.data.root={folder}",
                    f"--config.data.class_file={tmp_path / 'artist_class.txt'}",
                    f"--config.data.train_split={tmp_path / 'artist_train.csv'}",
                    f"--config.data.val_split={tmp_path / 'artist_val.csv'}")
    _check_run(workdir, result, val_count=6)


def test_tfds_array_record(tmp_path):
    def rows(split):
        return [(path, _png(_image(label, int(path.split("/")[1][:-4]))), label) for path, label in _rows(split)]

    write_tfds(tmp_path / "tfds", "ArtjaxCliPaintings", CLASSES, {"train": rows("train"), "test": rows("val")})
    workdir = tmp_path / "run"
    # The CLI process never saw the builder class: it reads the prepared files by name alone.
    result = _train(workdir, "--config.data.source=tfds", "--config.data.tfds_name=artjax_cli_paintings",
                    f"--config.data.tfds_dir={tmp_path / 'tfds'}", "--config.data.tfds_val_split=test")
    _check_run(workdir, result, val_count=6)


def test_arrays_npz(tmp_path):
    train, val = _rows("train"), _rows("val")
    images = {path: _image(label, int(path.split("/")[1][:-4])) for path, label in train + val}
    np.savez(tmp_path / "paintings.npz",
             x_train=np.stack([images[p] for p, _ in train]), y_train=np.array([lab for _, lab in train]),
             x_test=np.stack([images[p] for p, _ in val]), y_test=np.array([lab for _, lab in val]),
             class_names=np.array(CLASSES))
    workdir = tmp_path / "run"
    result = _train(workdir, "--config.data.source=arrays", f"--config.data.arrays={tmp_path / 'paintings.npz'}")
    _check_run(workdir, result, val_count=6)


def test_scan_command_fills_the_decoded_image_cache(folder, tmp_path):
    args = [sys.executable, "-m", "artjax.data", "--config", QUICKSTART, "--config.data.source=folder",
            f"--config.data.root={folder}", f"--config.data.cache_dir={tmp_path / 'cache'}",
            "--config.data.cache_short_side=32"]
    result = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "decoded-image cache filled" in result.stdout
    entries = list((tmp_path / "cache").rglob("*.jpg"))
    assert len(entries) == len(CLASSES) * PER_CLASS  # train and validation images, each once
    assert all(Image.open(entry).size == (32, 32) for entry in entries)  # 40 px shrunk to 32
