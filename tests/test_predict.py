"""`python -m artjax.predict` on a trained smoke run: folders, broken files, CSV, the three views,
error exits; and the Classifier's batching and pyramid-model path on their own."""

import csv
import shutil

import numpy as np
import pytest
from PIL import Image

from artjax import models, predict
from artjax.data.augment import make_transform
from artjax.data.painters import PaintersSource
from artjax.eval.inference import Classifier, default_view
from artjax.models.base import Preprocessing
from artjax.models.pyramid import Pyramid



@pytest.fixture(scope="module")
def run_dir(smoke_run):
    return smoke_run


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


def test_cli_names_classes_writes_csv_and_reports_the_broken_file(run_dir, images, tmp_path, capsys):
    folder, paths = images
    out = tmp_path / "preds.csv"
    assert predict.main(["--workdir", str(run_dir), str(folder), "--top-k", "3", "--out", str(out)]) == 0
    printed = capsys.readouterr()
    class_names = PaintersSource(split="val", num_examples=6).class_names
    blocks = printed.out.strip().split("\n/")
    assert len(blocks) == 4
    for block in blocks:
        lines = block.splitlines()
        assert len(lines) == 4  # the path, then the top 3
        ranked = [line.split() for line in lines[1:]]
        assert [r[0] for r in ranked] == ["1.", "2.", "3."]
        assert all(r[1] in class_names for r in ranked)
        probs = [float(r[2]) for r in ranked]
        assert probs == sorted(probs, reverse=True) and sum(probs) <= 1.0 + 1e-3
    assert printed.err.count("broken.jpg") == 1 and "notes.txt" not in printed.err
    assert "predicted 4 image(s)" in printed.err and "skipped 1 unreadable" in printed.err

    header, rows = _read_csv(out)
    assert header == ["path", "class", "prob", "class_1", "prob_1", "class_2", "prob_2", "class_3", "prob_3"]
    assert sorted(r[0] for r in rows) == paths
    for row in rows:
        assert row[1] == row[3] and row[2] == row[4] and row[1] in class_names
        assert float(row[4]) >= float(row[6]) >= float(row[8])


@pytest.mark.parametrize("view", ["quadrants", "pyramid"])
def test_cli_quadrant_and_pyramid_views(view, run_dir, images, tmp_path, capsys):
    out = tmp_path / "preds.csv"
    assert predict.main(["--workdir", str(run_dir), *images[1][:2], "--view", view, "--top-k", "6",
                         "--out", str(out)]) == 0
    printed = capsys.readouterr()
    assert f"view {view}" in printed.err
    header, rows = _read_csv(out)
    assert len(rows) == 2
    for row in rows:
        assert sum(map(float, row[4:16:2])) == pytest.approx(1.0, abs=1e-4)  # all 6 classes listed
    if view == "quadrants":
        assert header[-1] == "crop_votes" and printed.out.count("crop votes:") == 2
        for row in rows:
            assert sum(int(v.split(":")[1]) for v in row[-1].split(";")) == 4


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
    prepare = Preprocessing(mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25)).normalize
    return Classifier(model, prepare=prepare, sigmoid=False, batch_size=batch_size)


def _probs(classifier, stream, view):
    transform = make_transform("none", image_size=32, train=False)
    return [p for _, p in classifier.predict(stream, view=view, transform=transform, image_size=32)]


def _painting_stream(n):
    source = PaintersSource(split="val", num_examples=n, num_artists=3, min_size=30, max_size=50)
    return [(i, source.read(i)["image"]) for i in range(n)]


def test_predictions_do_not_depend_on_the_batch_size():
    model = models.create("resnet_mini", num_classes=3, seed=1)
    stream = _painting_stream(5)
    small = [p.probs for p in _probs(_classifier(model, 3), stream, "quadrants")]
    large = [p.probs for p in _probs(_classifier(model, 64), stream, "quadrants")]
    np.testing.assert_allclose(small, large, atol=1e-6)
    assert len(small) == 5


def test_views_average_their_crops_and_pyramid_levels_weigh_25_4_1():
    model = models.create("resnet_mini", num_classes=3, seed=1)
    stream = _painting_stream(2)
    classifier = _classifier(model, 32)
    full, quadrants, pyramid = (_probs(classifier, stream, v) for v in ("full", "quadrants", "pyramid"))
    for f, q, p in zip(full, quadrants, pyramid):
        assert f.crop_probs is None and q.crop_probs.shape == (4, 3) and p.crop_probs.shape == (30, 3)
        np.testing.assert_allclose(q.probs, q.crop_probs.mean(axis=0), atol=1e-6)  # float32 on the device
        assert q.votes.sum() == 4 and q.votes.argmax() == np.bincount(q.crop_probs.argmax(1), minlength=3).argmax()
        np.testing.assert_allclose(p.crop_probs[0], f.probs, atol=1e-6)  # level 1 is the whole image
        np.testing.assert_allclose(p.crop_probs[1:5], q.crop_probs, atol=1e-6)  # level 2 = the quadrants
        expected = (25 * f.probs + 4 * q.probs + p.crop_probs[5:].mean(axis=0)) / 30
        np.testing.assert_allclose(p.probs, expected, atol=1e-6)


def test_a_pyramid_model_gets_all_crops_at_once_and_matches_the_plain_backbone():
    backbone = models.create("resnet_mini", num_classes=3, seed=1)
    stream = _painting_stream(3)
    plain = _classifier(backbone, 64)
    pyramid = Pyramid(backbone, rule="soft")
    wrapped = _classifier(pyramid, 60)  # 2 images of 30 crops per call
    assert default_view(pyramid) == "pyramid" and default_view(backbone) == "full"
    expected = [p.probs for p in _probs(plain, stream, "pyramid")]
    got = _probs(wrapped, stream, "pyramid")
    assert len(got) == 3 and got[0].crop_probs is None
    np.testing.assert_allclose([p.probs for p in got], expected, atol=1e-5)
    with pytest.raises(ValueError, match="pyramid model"):
        _probs(wrapped, stream, "full")


def test_embed_and_neighbours_agree_with_a_brute_force_search_of_the_gallery(run_dir, images, tmp_path, capsys):
    """The run's end embedded its training works (gallery.npz); `artjax.embed` of a training work
    saved as PNG gives its gallery row; `predict --neighbours 3` lists exactly the brute-force
    nearest works of the image's embedding; an image in a folder named for a class gets its label."""
    from artjax import embed
    from artjax.config import load_saved_config
    from artjax.data import catalog
    from artjax.eval.gallery import Gallery, exact_search

    gallery = Gallery.load(str(run_dir / "gallery.npz"))
    config = load_saved_config(str(run_dir / "config.json"))
    train = catalog.open_sources(config.data)[0]
    assert len(gallery) == len(train) and gallery.class_names == list(train.class_names)
    work = tmp_path / gallery.class_names[train.read(5)["label"]] / "work_5.png"
    work.parent.mkdir()
    Image.fromarray(train.read(5)["image"]).save(work)
    paths = [*images[1], str(work)]
    out = tmp_path / "embeddings.npz"
    assert embed.main(["--workdir", str(run_dir), *paths, "--out", str(out)]) == 0
    embedded = np.load(out)
    assert list(embedded["paths"]) == paths and str(embedded["view"]) == gallery.view
    assert list(embedded["labels"]) == [-1] * 4 + [train.read(5)["label"]]
    np.testing.assert_allclose(embedded["embeddings"][4], gallery.embeddings[list(gallery.indices).index(5)],
                               atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(embedded["embeddings"], axis=1), 1, atol=1e-5)

    csv_path = tmp_path / "preds.csv"
    capsys.readouterr()
    assert predict.main(["--workdir", str(run_dir), *paths, "--neighbours", "3", "--out", str(csv_path)]) == 0
    assert capsys.readouterr().out.count("nearest training works:") == 5
    header, rows = _read_csv(csv_path)
    expected, sims = exact_search(gallery.embeddings, embedded["embeddings"], 3)
    for row, nearest, similarity in zip(rows, expected, sims):
        got = dict(zip(header, row))
        assert [got[f"neighbour_{j}_path"] for j in (1, 2, 3)] == [gallery.paths[i] for i in nearest]
        assert [got[f"neighbour_{j}_class"] for j in (1, 2, 3)] == [gallery.class_names[gallery.labels[i]]
                                                                  for i in nearest]
        np.testing.assert_allclose([float(got[f"neighbour_{j}_similarity"]) for j in (1, 2, 3)], similarity,
                                   atol=1e-5)
    assert rows[4][header.index("neighbour_1_path")] == gallery.paths[list(gallery.indices).index(5)]


def test_neighbours_refuse_a_gallery_of_another_checkpoint_or_none(run_dir, images, tmp_path, capsys):
    from artjax.eval.gallery import Gallery

    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy, ignore=shutil.ignore_patterns("report", "tensorboard"))
    stale = Gallery.load(str(copy / "gallery.npz"))
    stale.checkpoint_step += 1
    stale.save(str(copy / "gallery.npz"))
    assert predict.main(["--workdir", str(copy), images[1][0], "--neighbours", "2"]) == 2
    assert "was embedded by the checkpoint at step" in capsys.readouterr().err
    (copy / "gallery.npz").unlink()
    assert predict.main(["--workdir", str(copy), images[1][0], "--neighbours", "2"]) == 2
    assert "has no gallery.npz" in capsys.readouterr().err
