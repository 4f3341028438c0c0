"""`python -m artjax.export` and `artjax.serving.load`: the exported program answers as the live
model (probabilities, embeddings, Grad-CAM, gallery neighbours) for each kind of model, the
README's jax-only snippet runs, the manifest says what the run says, bad commands are one line.

The smoke and pyramid runs are the session's trained ones (conftest.py); the EfficientNet and the
Resizer models are built in-process from their experiment configs, untrained: an export does not
depend on what the weights are, and training them would cost half a minute each."""

import csv
import json
import os
import re
import shutil
import subprocess
import sys

import jax
import numpy as np
import pytest
from PIL import Image
from sklearn.datasets import load_sample_image

from artjax import export, predict, serving
from artjax.config import load_config
from artjax.data.painters import PaintersSource
from artjax.eval.gallery import Gallery
from artjax.eval.gradcam import gradcam
from artjax.runs import export as run_export
from artjax.runs import gallery as run_gallery
from artjax.runs.restore import RestoredRun, load_run
from artjax.train import setup
from tests.conftest import ROOT

TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def images():
    """Three RGB images of different shapes: two synthetic paintings and a real photograph."""
    source = PaintersSource(split="test", num_examples=2, num_artists=6, min_size=40, max_size=64)
    return [source.read(0)["image"], source.read(1)["image"], load_sample_image("china.jpg")]


def _exported(workdir, out, *extra):
    assert export.main(["--workdir", str(workdir), "--out", str(out), *extra]) == 0
    return out


def _untrained_run(spec, **overrides):
    """A RestoredRun of the experiment `spec`'s model as built for training, in eval mode."""
    config = load_config(spec)
    for key, value in overrides.items():
        *parents, name = key.split(".")
        node = config
        for parent in parents:
            node = node[parent]
        node[name] = value
    names = [f"artist_{i}" for i in range(5)]
    built = setup.build(config, num_classes=len(names), steps_per_epoch=1)
    built.model.eval()
    return RestoredRun(built.model, config, names, step=0, metrics=None, which="latest")


@pytest.fixture(scope="module")
def smoke_export(smoke_run, tmp_path_factory):
    return _exported(smoke_run, tmp_path_factory.mktemp("export") / "smoke")


@pytest.fixture(scope="module")
def pyramid_export(pyramid_small_run, tmp_path_factory):
    return _exported(pyramid_small_run, tmp_path_factory.mktemp("export") / "pyramid")


def _export_untrained(run, tmp_path_factory, name):
    out = tmp_path_factory.mktemp("export") / name
    out.mkdir()
    run_export.export_run(run, str(tmp_path_factory.mktemp("no_run_files")), str(out))
    return out


@pytest.fixture(scope="module")
def efficientnet(tmp_path_factory):
    run = _untrained_run("experiments/quickstart.py:smoke", **{"model.name": "efficientnet_lite0", "model.weights": ""})
    return run, _export_untrained(run, tmp_path_factory, "efficientnet")


@pytest.fixture(scope="module")
def resizer(tmp_path_factory):
    run = _untrained_run("experiments/cifar10_resizer.py:smoke", **{"model.name": "resnet_mini", "model.weights": "",
                                                                 "model.resizer.target_size": 48})
    return run, _export_untrained(run, tmp_path_factory, "resizer")


def _live_and_exported(run, model_dir, images, temperature):
    """(live, exported) (probabilities, embeddings) of the images, the exported in one call per
    batch size 1 and 3 (the symbolic batch dimension) and their max absolute differences."""
    model = serving.load(str(model_dir))
    view = run_export.export_view(run)
    classifier = run.classifier(batch_size=32, temperature=temperature, embed=True)
    live = [p for _, p in classifier.predict(enumerate(images), view=view, transform=run.eval_transform(),
                                             image_size=run.config.data.image_size)]
    live_probs, live_embeddings = np.stack([p.probs for p in live]), np.stack([p.embedding for p in live])
    prepared = np.stack([model.prepare(rgb) for rgb in images])
    for batch in (prepared[:1], prepared):
        probs, embeddings = model.probs(batch), model.embed(batch)
        assert probs.dtype == np.float32 and probs.shape == (len(batch), len(run.class_names))
        np.testing.assert_allclose(probs, live_probs[:len(batch)], atol=TOLERANCE, rtol=0)
        np.testing.assert_allclose(embeddings, live_embeddings[:len(batch)], atol=TOLERANCE, rtol=0)
    errors = np.abs(probs - live_probs).max(), np.abs(embeddings - live_embeddings).max()
    print(f"{run.config.model.name} resizer={run.config.model.resizer.enabled} levels={model.levels}: max "
          f"|probs - live| {errors[0]:.2e}, |embedding - live| {errors[1]:.2e}, model.jaxexport "
          f"{os.path.getsize(model_dir / 'model.jaxexport')} bytes")
    return model, prepared


@pytest.mark.parametrize("kind", ["resnet", "pyramid"])
def test_a_trained_run_exports_to_the_same_probabilities_and_embeddings(kind, request, images):
    workdir = request.getfixturevalue({"resnet": "smoke_run", "pyramid": "pyramid_small_run"}[kind])
    model_dir = request.getfixturevalue({"resnet": "smoke_export", "pyramid": "pyramid_export"}[kind])
    run = load_run(str(workdir))
    temperature = json.loads((workdir / "calibration.json").read_text())["temperature"]
    model, prepared = _live_and_exported(run, model_dir, images, temperature)
    if kind == "pyramid":  # its pyramid crops, cut on the host: n x n per level n
        crops = sum(n * n for n in run.model.levels)
        assert prepared.shape == (3, crops, run.config.data.image_size, run.config.data.image_size, 3)
    else:  # exactly the run's evaluation transform
        np.testing.assert_array_equal(prepared, np.stack([run.eval_transform()(rgb, 0) for rgb in images]))


@pytest.mark.parametrize("kind", ["efficientnet", "resizer"])
def test_efficientnet_and_resizer_models_export_to_the_same_probabilities(kind, request, images):
    run, model_dir = request.getfixturevalue(kind)
    _live_and_exported(run, model_dir, images, temperature=1.0)
    manifest = json.loads((model_dir / "manifest.json").read_text())
    assert manifest["temperature"] == 1.0 and manifest["warnings"][0].startswith("temperature 1: uncalibrated")


def test_exported_gradcam_equals_the_live_one(smoke_run, smoke_export, images):
    run, model = load_run(str(smoke_run)), serving.load(str(smoke_export))
    prepared = np.stack([model.prepare(rgb) for rgb in images])
    explained = np.array([-1, 2, 4], np.int32)
    live, _ = gradcam(run.model, run.prepare()(prepared), explained)
    heatmaps = model.gradcam(prepared, explained)
    assert heatmaps.shape == (3, 32, 32) and float(np.ptp(live)) > 0.1  # not a uniform map
    np.testing.assert_allclose(heatmaps, live, atol=TOLERANCE, rtol=0)
    np.testing.assert_allclose(model.gradcam(prepared[:1], explained[:1]), live[:1], atol=TOLERANCE, rtol=0)
    print(f"Grad-CAM max |exported - live| {np.abs(heatmaps - live).max():.2e}")


def test_the_manifest_says_what_the_run_says(smoke_run, smoke_export, pyramid_export):
    manifest = json.loads((smoke_export / "manifest.json").read_text())
    assert manifest["class_names"] == json.loads((smoke_run / "classes.json").read_text())["class_names"]
    calibration = json.loads((smoke_run / "calibration.json").read_text())
    assert manifest["temperature"] == calibration["temperature"] != 1.0
    assert manifest["checkpoint"]["step"] == calibration["checkpoint_step"]
    assert manifest["platforms"] == ["cpu", "cuda"] and manifest["warnings"] == []
    assert manifest["input"] == {"layout": "NHWC", "dtype": "uint8", "shape": ["b", 32, 32, 3], "channels": "RGB",
                                 "levels": None}
    assert manifest["transform"]["steps"] == [{"op": "Resize", "height": 32, "width": 32, "interpolation": 1,
                                               "mask_interpolation": 0, "area_for_downscale": None,
                                               "interpolation_name": "bilinear (OpenCV code 1)"}]
    assert sorted(os.listdir(smoke_export)) == sorted(f.rstrip("/") for f in manifest["files"])
    assert serving.load(str(smoke_export)).temperature == manifest["temperature"]

    pyramid = json.loads((pyramid_export / "manifest.json").read_text())
    crops = sum(n * n for n in pyramid["input"]["levels"])
    assert pyramid["input"]["shape"] == ["b", crops, 32, 32, 3] and pyramid["output"]["gradcam"] is None
    assert not (pyramid_export / "gradcam.jaxexport").exists()
    assert any(w.startswith("no Grad-CAM: a pyramid model") for w in pyramid["warnings"])
    assert serving.load(str(pyramid_export)).gradcam(np.zeros((1, crops, 32, 32, 3), np.uint8), [-1]) is None


def test_neighbours_equal_predict_neighbours_and_thumbnails_stay_inside(smoke_run, smoke_export, images, tmp_path,
                                                                        capsys):
    paths = []
    for i, rgb in enumerate(images):
        paths.append(str(tmp_path / f"image_{i}.png"))
        Image.fromarray(rgb).save(paths[-1])
    out = tmp_path / "predict.csv"
    assert predict.main(["--workdir", str(smoke_run), *paths, "--neighbours", "4", "--out", str(out)]) == 0
    capsys.readouterr()
    with open(out, newline="") as f:
        rows = {row["path"]: row for row in csv.DictReader(f)}
    model = serving.load(str(smoke_export))
    # The image as predict decodes it: PNG round trip is lossless, so the arrays are the same.
    found = model.neighbours(np.stack([model.prepare(rgb) for rgb in images]), 4)
    recorded = Gallery.load(str(smoke_run / "gallery.npz")).paths
    for path, works in zip(paths, found):
        row = rows[path]
        assert [w["class"] for w in works] == [row[f"neighbour_{r}_class"] for r in range(1, 5)]
        assert [recorded[w["id"]] for w in works] == [row[f"neighbour_{r}_path"] for r in range(1, 5)]
        np.testing.assert_allclose([w["similarity"] for w in works],
                                   [float(row[f"neighbour_{r}_similarity"]) for r in range(1, 5)], atol=2e-6)
    thumbnail = model.thumbnail(found[0][0]["id"])
    assert os.path.dirname(thumbnail) == str(smoke_export / "thumbnails")
    with Image.open(thumbnail) as picture:
        assert picture.format == "JPEG" and max(picture.size) <= run_gallery.THUMBNAIL_SIDE
    assert len(os.listdir(smoke_export / "thumbnails")) == len(recorded)
    assert model.thumbnail(-1) is None and model.thumbnail(len(recorded)) is None


def test_a_stale_gallery_or_unreadable_work_is_left_out_with_a_warning(smoke_run, tmp_path, capsys):
    workdir = tmp_path / "run"
    shutil.copytree(smoke_run, workdir, ignore=shutil.ignore_patterns("report", "tensorboard"))
    gallery = Gallery.load(str(workdir / "gallery.npz"))
    gallery.paths[1] = "painters/train/moved"  # the training source no longer holds this record id
    gallery.save(str(workdir / "gallery.npz"))
    out = _exported(workdir, tmp_path / "model")
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["gallery"]["thumbnails_missing"] == [1] and serving.load(str(out)).thumbnail(1) is None
    assert manifest["warnings"] == [f"1 of {len(gallery)} gallery works have no thumbnail (unreadable), e.g. id 1 "
                                    f"(painters/train/moved)"]

    gallery.checkpoint_step += 1
    gallery.save(str(workdir / "gallery.npz"))
    _exported(workdir, out, "--force")
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["gallery"] is None and not (out / "gallery.npz").exists() and not (out / "thumbnails").exists()
    assert manifest["warnings"][0].startswith("no gallery: the gallery of")
    assert "artjax: warning: no gallery" in capsys.readouterr().err
    with pytest.raises(ValueError, match="has no gallery"):
        serving.load(str(out)).neighbours(np.zeros((1, 32, 32, 3), np.uint8), 1)


def test_a_platform_that_does_not_lower_falls_back_to_cpu_with_a_warning(monkeypatch):
    # This jax lowers every artjax model for CUDA, so the failure is jax's: an export refusing
    # more than one platform, as a jax without a platform's lowering rules would.
    real = jax.export.export

    def cpu_only(fn, *, platforms):
        if tuple(platforms) != ("cpu",):
            raise NotImplementedError(f"no lowering for {platforms[1]}\n(details)")
        return real(fn, platforms=platforms)

    monkeypatch.setattr(jax.export, "export", cpu_only)
    warnings = []
    exported, platforms = run_export._export(lambda x: x * 2, ("cpu", "cuda"), warnings,
                                             jax.ShapeDtypeStruct((2,), np.float32))
    assert platforms == ("cpu",) and exported.platforms == ("cpu",)
    assert warnings == ["exported for cpu only: lowering for cpu, cuda failed (NotImplementedError: no lowering for "
                        "cuda (details))"]
    np.testing.assert_array_equal(exported.call(np.ones(2, np.float32)), [2, 2])


@pytest.mark.parametrize("case", ["no-workdir", "not-empty", "no-checkpoint"])
def test_bad_commands_exit_2_with_one_line(case, smoke_run, tmp_path, capsys):
    workdir, out = smoke_run, tmp_path / "model"
    if case == "no-workdir":
        workdir = tmp_path / "missing"
    elif case == "not-empty":
        out.mkdir()
        (out / "keep.txt").write_text("mine")
    else:
        workdir = tmp_path / "fresh"
        workdir.mkdir()
        for name in ("config.json", "classes.json"):
            shutil.copy(smoke_run / name, workdir / name)
    assert export.main(["--workdir", str(workdir), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("artjax: ")
    assert {"no-workdir": "no such directory", "not-empty": "not empty (--force replaces it)",
            "no-checkpoint": "no checkpoint"}[case] in err[0]
    assert os.listdir(out) == ["keep.txt"] if case == "not-empty" else not out.exists()


def test_the_readme_snippet_runs_with_jax_alone(smoke_export):
    readme = (ROOT / "README.md").read_text().split("## Exporting a run", 1)[1].split("\n## ", 1)[0]
    [snippet] = [block for block in re.findall(r"```python\n(.*?)```", readme, re.S) if "jax.export.deserialize" in block]
    assert len(snippet.strip().splitlines()) <= 12
    snippet = re.sub(r'model_dir = ".*"', f"model_dir = {str(smoke_export)!r}", snippet)
    check = (f"{snippet}\nimport sys\nimported = sorted(m.split('.')[0] for m in sys.modules if m.split('.')[0] in "
             f"('artjax', 'flax', 'cv2', 'torch'))\n"
             f"from artjax import serving\nloaded = serving.load(model_dir)\n"
             f"print(json.dumps({{'probs': np.asarray(probs).tolist(), 'served': loaded.probs(image).tolist(), "
             f"'before': imported, 'flax': 'flax' in sys.modules}}))\n")
    result = subprocess.run([sys.executable, "-c", check], cwd=ROOT, capture_output=True, text=True, timeout=120,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr[-2000:]
    printed, answer = result.stdout.strip().splitlines()[:-1], json.loads(result.stdout.strip().splitlines()[-1])
    names = json.loads((smoke_export / "manifest.json").read_text())["class_names"]
    assert len(printed) == 1 and printed[0].split()[0] in names and 0 < float(printed[0].split()[1]) <= 1
    assert answer["before"] == [] and answer["flax"] is False  # the snippet: jax alone; artjax.serving: no flax
    np.testing.assert_allclose(answer["probs"], answer["served"], atol=1e-7)
