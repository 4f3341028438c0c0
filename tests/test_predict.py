"""`python -m artjax.predict` on a trained smoke run: folders, broken files, CSV, the three views,
error exits; and the Classifier's batching and pyramid-model path on their own."""

import csv
import pathlib
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from artjax import models, predict
from artjax.data.augment import make_transform
from artjax.data.painters import PaintersSource
from artjax.eval.inference import Classifier
from artjax.models.pyramid import Pyramid, default_level_weights
from artjax.train import steps

ROOT = pathlib.Path(__file__).parents[1]
QUICKSTART = str(ROOT / "experiments" / "quickstart.py")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("predict") / "run"
    result = subprocess.run([sys.executable, "-m", "artjax.main", "--config", QUICKSTART + ":smoke",
                             "--workdir", str(workdir)], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return workdir


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """Four synthetic paintings (two in a subfolder), a broken JPEG and a non-image file."""
    folder = tmp_path_factory.mktemp("images")
    (folder / "more").mkdir()
    source = PaintersSource(split="test", num_examples=4, num_artists=6, min_size=40, max_size=64)
    paths = []
    for i in range(4):
        path = folder / ("more" if i % 2 else "") / f"painting_{i}.png"
        Image.fromarray(source.read(i)["image"]).save(path)
        paths.append(str(path))
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff not really a jpeg")
    (folder / "notes.txt").write_text("not an image")
    return folder, sorted(paths)


def _read_csv(path):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    return rows[0], rows[1:]


def test_cli_names_classes_writes_csv_and_reports_the_broken_file(run_dir, images, tmp_path):
    folder, paths = images
    out = tmp_path / "preds.csv"
    result = subprocess.run([sys.executable, "-m", "artjax.predict", "--workdir", str(run_dir), str(folder),
                             "--top-k", "3", "--out", str(out)], cwd=ROOT, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    class_names = PaintersSource(split="val", num_examples=6).class_names
    blocks = result.stdout.strip().split("\n/")
    assert len(blocks) == 4
    for block in blocks:
        lines = block.splitlines()
        assert len(lines) == 4  # the path, then the top 3
        ranked = [line.split() for line in lines[1:]]
        assert [r[0] for r in ranked] == ["1.", "2.", "3."]
        assert all(r[1] in class_names for r in ranked)
        probs = [float(r[2]) for r in ranked]
        assert probs == sorted(probs, reverse=True) and sum(probs) <= 1.0 + 1e-3
    assert result.stderr.count("broken.jpg") == 1 and "notes.txt" not in result.stderr
    assert "predicted 4 image(s)" in result.stderr and "skipped 1 unreadable" in result.stderr

    header, rows = _read_csv(out)
    assert header == ["path", "class", "prob", "class_1", "prob_1", "class_2", "prob_2", "class_3", "prob_3"]
    assert sorted(r[0] for r in rows) == paths
    for row in rows:
        assert row[1] == row[3] and row[2] == row[4] and row[1] in class_names
        assert float(row[4]) >= float(row[6]) >= float(row[8])


def _probabilities(run_dir, image, view, tmp_path, capsys):
    """The full probability vector the CLI writes for one image with `view`."""
    out = tmp_path / f"{view}.csv"
    status = predict.main(["--workdir", str(run_dir), image, "--view", view, "--top-k", "99", "--out", str(out)])
    assert status == 0
    header, rows = _read_csv(out)
    names = PaintersSource(split="val", num_examples=6).class_names
    probs = dict(zip(rows[0][3:3 + 2 * len(names):2], map(float, rows[0][4:4 + 2 * len(names):2])))
    extra = dict(zip(header, rows[0]))
    return np.array([probs[n] for n in names]), extra, capsys.readouterr().out


def test_quadrant_and_pyramid_views_combine_crops_with_s1_weights(run_dir, images, tmp_path, capsys):
    image = images[1][0]
    full, _, _ = _probabilities(run_dir, image, "full", tmp_path, capsys)
    quadrants, extra, printed = _probabilities(run_dir, image, "quadrants", tmp_path, capsys)
    pyramid, _, _ = _probabilities(run_dir, image, "pyramid", tmp_path, capsys)
    votes = [int(v.split(":")[1]) for v in extra["crop_votes"].split(";")]
    assert sum(votes) == 4 and "crop votes:" in printed
    for probs in (full, quadrants, pyramid):
        assert probs.sum() == pytest.approx(1.0, abs=1e-4)
    # pyramid = 25/30 full image + 4/30 mean of the quarters + 1/30 mean of the 5x5 tiles
    w_full, w_quarters, w_tiles = default_level_weights((1, 2, 5))
    tiles = (pyramid - w_full * full - w_quarters * quadrants) / w_tiles
    assert tiles.min() >= -1e-3 and tiles.sum() == pytest.approx(1.0, abs=1e-3)


@pytest.mark.parametrize("case", ["no-workdir", "no-images", "no-checkpoint"])
def test_unusable_commands_exit_2_with_one_line(case, run_dir, images, tmp_path, capsys):
    workdir, paths = str(run_dir), [str(images[0])]
    if case == "no-workdir":
        workdir = str(tmp_path / "missing")
    elif case == "no-images":
        (tmp_path / "empty").mkdir()
        paths = [str(tmp_path / "empty"), str(tmp_path / "nothing.png")]
    else:
        workdir = str(tmp_path / "fresh")
        (tmp_path / "fresh").mkdir()
        for name in ("config.json", "classes.json"):
            shutil.copy(run_dir / name, tmp_path / "fresh" / name)
    assert predict.main(["--workdir", workdir, *paths]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("artjax: ")
    assert {"no-workdir": "no such directory", "no-images": "no images found",
            "no-checkpoint": "no checkpoint"}[case] in err[0]


def test_only_unreadable_images_exit_1(run_dir, images, capsys):
    assert predict.main(["--workdir", str(run_dir), str(images[0] / "broken.jpg")]) == 1
    assert "predicted 0 image(s)" in capsys.readouterr().err


def _classifier(model, batch_size):
    prepare = lambda x: steps.normalize(x, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25), np.float32)  # noqa: E731
    return Classifier(model, prepare=prepare, sigmoid=False, batch_size=batch_size)


def _painting_stream(n):
    source = PaintersSource(split="val", num_examples=n, num_artists=3, min_size=30, max_size=50)
    return [(i, source.read(i)["image"]) for i in range(n)]


def test_predictions_do_not_depend_on_the_batch_size():
    model = models.create("resnet_mini", num_classes=3, seed=1)
    transform = make_transform("none", image_size=32, train=False)
    stream = _painting_stream(5)
    small = [p.probs for _, p in _classifier(model, 3).predict(stream, view="quadrants", transform=transform)]
    large = [p.probs for _, p in _classifier(model, 64).predict(stream, view="quadrants", transform=transform)]
    np.testing.assert_allclose(small, large, atol=1e-6)
    assert len(small) == 5


def test_a_pyramid_model_gets_all_crops_at_once_and_matches_the_plain_backbone():
    backbone = models.create("resnet_mini", num_classes=3, seed=1)
    transform = make_transform("none", image_size=32, train=False)
    stream = _painting_stream(3)
    plain = _classifier(backbone, 64)
    wrapped = _classifier(Pyramid(backbone, rule="soft"), 60)  # 2 images of 30 crops per call
    assert wrapped.default_view == "pyramid" and plain.default_view == "full"
    expected = [p.probs for _, p in plain.predict(stream, view="pyramid", transform=transform)]
    got = list(wrapped.predict(stream, view="pyramid", transform=transform))
    assert [key for key, _ in got] == [0, 1, 2] and got[0][1].crop_probs is None
    np.testing.assert_allclose([p.probs for _, p in got], expected, atol=1e-5)
    with pytest.raises(ValueError, match="pyramid model"):
        list(wrapped.predict(stream, view="full", transform=transform))
