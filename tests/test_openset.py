"""The end of a run with held-out classes: calibration.json and openset.json, predict --reject,
and data.holdout_classes that do not fit the data (one line, exit status 2)."""

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from artjax import predict
from artjax.rundir import RunDir
from artjax.runs import calibrate
from artjax.data.painters import ARTISTS, paint
from artjax.config import load_config
from artjax.data import catalog, holdout
from conftest import ROOT, finished_run

HELD = "tower"
SMOKE = ["--config", "experiments/quickstart.py:smoke"]


@pytest.fixture(scope="module")
def holdout_run(tmp_path_factory):
    return finished_run(tmp_path_factory, "quickstart_holdout",
                        [*SMOKE, "--config.train.epochs=1", f"--config.data.holdout_classes=('{HELD}',)"])


def test_a_holdout_run_writes_calibration_and_openset(holdout_run):
    classes = json.loads((holdout_run / "classes.json").read_text())["class_names"]
    assert HELD not in classes and len(classes) == 5
    cal = json.loads((holdout_run / "calibration.json").read_text())
    assert cal["fitted_on"] == "validation" and cal["nll_after"] <= cal["nll_before"] and cal["bins"] == 15
    assert (holdout_run / "report" / "reliability.png").exists()
    record = json.loads((holdout_run / "openset.json").read_text())
    assert record["score"] == "msp" and record["holdout_classes"] == [HELD] and record["tar"] >= 0.95
    assert 0 <= record["auroc"] <= 1 and 0 <= record["far_at_95_tar"] <= 1 and record["counts"]["unknown"] > 0
    assert record["checkpoint_step"] == cal["checkpoint_step"]
    # metrics.jsonl carries the same figures, one row each
    rows = {r["split"]: r for r in map(json.loads, (holdout_run / "metrics.jsonl").read_text().splitlines())
            if r["split"] in ("calibration", "openset")}
    assert rows["openset"]["auroc"] == record["auroc"] and rows["openset"]["far_at_95_tar"] == record["far_at_95_tar"]
    assert rows["calibration"]["ece_after"] == cal["ece_after"] and rows["openset"]["step"] == cal["checkpoint_step"]


def test_predict_reject_names_the_unknown_and_uses_the_temperature(holdout_run, tmp_path, capsys):
    rng = np.random.default_rng(0)
    style = next(s for s in ARTISTS if s.name == HELD)
    paths = []
    for i in range(6):
        paths.append(tmp_path / f"held{i}.png")
        Image.fromarray(paint(style, rng, 64, 64)).save(paths[-1])
    paths.append(tmp_path / "grey.png")
    Image.fromarray(np.full((64, 64, 3), 128, np.uint8)).save(paths[-1])
    out = tmp_path / "p.csv"
    status = predict.main(["--workdir", str(holdout_run), "--reject", "--out", str(out), *map(str, paths)])
    captured = capsys.readouterr()
    assert status == 0
    threshold = json.loads((holdout_run / "openset.json").read_text())["threshold"]
    rows = [line.split(",") for line in out.read_text().splitlines()[1:]]
    rejected = [r for r in rows if r[4] == "1"]
    assert rejected and all(float(r[3]) < threshold for r in rejected)
    assert all(float(r[3]) >= threshold for r in rows if r[4] == "0")
    assert captured.out.count("unknown artist (score ") == len(rejected)
    assert "calibrated, temperature" in captured.err


def test_holdout_classes_that_do_not_fit_exit_2(tmp_path):
    result = subprocess.run([sys.executable, "-m", "artjax.main", *SMOKE, "--config.data.holdout_classes=('nobody',)",
                             "--workdir", str(tmp_path / "run")], cwd=ROOT, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 2, result.stderr[-2000:]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "config key 'data.holdout_classes': 'nobody' not among the data's classes" in lines[0]
    config = load_config("experiments/quickstart.py:smoke")
    config.data.holdout_classes = tuple(s.name for s in ARTISTS[:config.data.painters.num_artists - 1])
    with pytest.raises(holdout.HoldoutError, match="leaves 1; classification needs at least 2"):
        catalog.open_sources(config.data)


def test_a_calibration_for_another_checkpoint_is_not_used(tmp_path):
    RunDir(str(tmp_path)).write_calibration({"temperature": 2.5, "checkpoint_step": 5})
    assert calibrate.temperature(str(tmp_path), 5).value == 2.5
    other = calibrate.temperature(str(tmp_path), 7)
    assert other.value == 1.0 and other.stale and "UNCALIBRATED" in other.note and "step 5" in other.note
    assert calibrate.temperature(str(tmp_path / "none"), 5).value == 1.0


def test_gallery_score_rejects_by_the_nearest_training_work(holdout_run, tmp_path):
    """eval.openset_score 'gallery': the run end's pass scores each image by its similarity to the
    nearest training work; AUROC on the held-out class equals scikit-learn's on those scores, and
    predict --reject applies the threshold to the same similarity it lists as neighbour 1."""
    import shutil

    from sklearn.metrics import roc_auc_score

    from artjax.eval.gallery import Gallery

    copy = tmp_path / "run"
    shutil.copytree(holdout_run, copy, ignore=shutil.ignore_patterns("report", "tensorboard"))
    config = json.loads((copy / "config.json").read_text())
    config["eval"]["openset_score"] = "gallery"
    (copy / "config.json").write_text(json.dumps(config))
    record = calibrate.calibrate_run(str(copy))["openset"]
    assert record["score"] == "gallery" and record["tar"] >= 0.95
    gallery = Gallery.load(str(copy / "gallery.npz"))
    assert gallery.checkpoint_step == record["checkpoint_step"]  # the score's gallery is the scored checkpoint's
    data = load_config(str(ROOT / "experiments" / "quickstart.py") + ":smoke").data
    data.holdout_classes = (HELD,)
    known_scores, unknown_scores = [], []
    for name, source, scores in (("known", catalog.open_sources(data)[1], known_scores),
                                 ("unknown", catalog.open_unknown(data), unknown_scores)):
        paths = []
        for i in range(len(source)):
            paths.append(str(tmp_path / f"{name}_{i}.png"))
            Image.fromarray(source.read(i)["image"]).save(paths[-1])
        out = tmp_path / f"{name}.csv"
        assert predict.main(["--workdir", str(copy), "--reject", "--neighbours", "1", "--out", str(out), *paths]) == 0
        header, *rows = [line.split(",") for line in out.read_text().splitlines()]
        for row in rows:
            got = dict(zip(header, row))
            assert float(got["openset_score"]) == pytest.approx(float(got["neighbour_1_similarity"]), abs=1e-5)
            scores.append(float(got["openset_score"]))
    assert len(unknown_scores) == record["counts"]["unknown"] and len(known_scores) == record["counts"]["known"]
    expected = roc_auc_score([1] * len(known_scores) + [0] * len(unknown_scores), known_scores + unknown_scores)
    # Lossless PNGs: the scores agree to 1e-5, so at most a near-tie may swap (1 / (known x unknown) each).
    assert record["auroc"] == pytest.approx(expected, abs=1 / (len(known_scores) * len(unknown_scores)))
