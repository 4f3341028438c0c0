"""`python -m artjax.evaluate` and the end-of-run test set on a copy of the trained smoke run:
metrics against scikit-learn, the configured test set, checkpoint.select, error exits."""

import csv
import json
import shutil

import numpy as np
import pytest
from PIL import Image
from sklearn.metrics import accuracy_score, f1_score

from artjax import evaluate, rundir
from artjax.config import load_saved_config
from artjax.data.integrity import DataIntegrityError, check_test_set
from artjax.data.sources import DecodeOptions, FileSource
from artjax.data.painters import PaintersSource
from artjax.rundir import RunDir
from artjax.runs.finish import finish_run
from artjax.runs.restore import load_run


def _copy(run, target):
    shutil.copytree(run, target, ignore=shutil.ignore_patterns(rundir.LOCK))
    return target


@pytest.fixture(scope="module")
def run_copy(smoke_run, tmp_path_factory):
    return _copy(smoke_run, tmp_path_factory.mktemp("evaluate") / "run")


@pytest.fixture(scope="module")
def test_set(tmp_path_factory):
    """Painters of the 'test' split (unseen by the run) as class folders, plus a broken JPEG."""
    folder = tmp_path_factory.mktemp("test_set")
    source = PaintersSource(split="test", num_examples=18, num_artists=6, min_size=40, max_size=64)
    for i in range(len(source)):
        record = source.read(i)
        target = folder / source.class_names[record["label"]]
        target.mkdir(exist_ok=True)
        Image.fromarray(record["image"]).save(target / f"painting {i}.png")
    (folder / source.class_names[0] / "broken.jpg").write_bytes(b"\xff\xd8\xff not a jpeg")
    return folder


def test_folder_metrics_equal_sklearn_on_the_written_predictions(run_copy, test_set, capsys):
    assert evaluate.main(["--workdir", str(run_copy), str(test_set)]) == 0
    printed = capsys.readouterr()
    run_dir = RunDir(str(run_copy))
    with open(run_dir.test_predictions, newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 18  # the broken file is skipped ...
    assert printed.err.count("broken.jpg") == 1 and "skipped 1 unreadable" in printed.err  # ... and named once
    true, predicted = [r["true"] for r in rows], [r["predicted"] for r in rows]
    assert all(r["true"] == r["id"].split("/")[-2] for r in rows)  # labels are the class folders
    saved = run_dir.read_test_metrics()
    assert saved["accuracy"] == pytest.approx(accuracy_score(true, predicted), abs=1e-12)
    assert saved["macro_f1"] == pytest.approx(f1_score(true, predicted, average="macro", zero_division=0), abs=1e-12)
    assert saved["count"] == 18 and saved["checkpoint"] == "best" and saved["view"] == "full"
    assert f"accuracy  {saved['accuracy']:.4f}" in printed.out and f"macro-F1  {saved['macro_f1']:.4f}" in printed.out
    assert "macro avg" in printed.out and all(name in printed.out for name in set(true))
    page = open(run_dir.test_report).read()
    assert rundir.TEST_CONFUSION in page and 'id="per-class"' in page and "Training curves" not in page


def test_a_configured_test_set_is_evaluated_at_the_end_of_the_run(smoke_run, test_set, tmp_path):
    workdir = _copy(smoke_run, tmp_path / "run")
    manifest = tmp_path / "test.csv"  # the CSV form, paths relative to data.test_root
    files = sorted(p.relative_to(test_set) for p in test_set.glob("*/*.png"))
    manifest.write_text("img_path,artist\n" + "".join(f"{p},{p.parent}\n" for p in files))
    config_json = json.loads((workdir / "config.json").read_text())
    config_json["data"].update(test_csv=str(manifest), test_root=str(test_set))
    config_json["checkpoint"]["select"] = "last"
    (workdir / "config.json").write_text(json.dumps(config_json))
    config = load_saved_config(str(workdir / "config.json"))
    index = finish_run(str(workdir), config, trained=True)
    saved = RunDir(str(workdir)).read_test_metrics()
    assert saved["test_set"] == str(manifest) and saved["count"] == len(files)
    last = max(int(p.name) for p in (workdir / "checkpoints").iterdir() if p.name.isdigit())
    assert (saved["step"], saved["checkpoint"]) == (last, "latest")
    page = open(index).read()
    assert rundir.TEST_REPORT in page and f"accuracy {saved['accuracy']:.4f}" in page


def test_several_paths_form_one_set(run_copy, test_set, tmp_path, capsys):
    manifest = tmp_path / "more.csv"  # paths relative to the CSV's folder
    (tmp_path / "more").mkdir()
    for p in sorted(test_set.glob("*/*.png"))[:3]:
        shutil.copy(p, tmp_path / "more" / p.name)
    manifest.write_text("img_path,artist\n" + "".join(
        f"more/{p.name},{p.parent.name}\n" for p in sorted(test_set.glob("*/*.png"))[:3]))
    assert evaluate.main(["--workdir", str(run_copy), str(test_set), str(manifest), "--which", "latest"]) == 0
    capsys.readouterr()
    saved = RunDir(str(run_copy)).read_test_metrics()
    assert saved["count"] == 21 and saved["test_set"] == f"{test_set}, {manifest}" and saved["checkpoint"] == "latest"


def test_checkpoint_select_picks_the_best_or_the_last_step(smoke_run, tmp_path):
    workdir = _copy(smoke_run, tmp_path / "run")
    first, last = sorted(int(p.name) for p in (workdir / "checkpoints").iterdir() if p.name.isdigit())
    meta_file = workdir / "checkpoints" / str(last) / "meta" / "metadata"
    meta = json.loads(meta_file.read_text())
    meta["best"]["step"] = first  # a run whose first epoch stayed its best
    meta_file.write_text(json.dumps(meta))
    config_file = workdir / "config.json"
    for select, step in (("best", first), ("last", last)):
        config_json = json.loads(config_file.read_text())
        config_json["checkpoint"]["select"] = select
        config_file.write_text(json.dumps(config_json))
        run = load_run(str(workdir), which=None)
        assert (run.step, run.which) == (step, "best" if select == "best" else "latest")


@pytest.mark.parametrize("case", ["unknown-class", "empty-folder", "missing-workdir", "no-test-set"])
def test_bad_inputs_exit_2_with_one_line(case, run_copy, test_set, tmp_path, capsys):
    workdir, paths = str(run_copy), [str(test_set)]
    if case == "unknown-class":
        (tmp_path / "set" / "zebra").mkdir(parents=True)
        Image.new("RGB", (40, 40)).save(tmp_path / "set" / "zebra" / "z.png")
        paths = [str(tmp_path / "set")]
    elif case == "empty-folder":
        (tmp_path / "empty").mkdir()
        paths = [str(tmp_path / "empty")]
    elif case == "missing-workdir":
        workdir = str(tmp_path / "missing")
    else:
        paths = []
    assert evaluate.main(["--workdir", workdir, *paths]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("artjax: ")
    assert {"unknown-class": "['zebra']", "empty-folder": "no class subfolders",
            "missing-workdir": "no such directory", "no-test-set": "no test set"}[case] in err[0]


def test_only_unreadable_images_exit_1(run_copy, tmp_path, capsys):
    (tmp_path / "set" / "rain").mkdir(parents=True)
    (tmp_path / "set" / "rain" / "broken.jpg").write_bytes(b"\xff\xd8\xff not a jpeg")
    assert evaluate.main(["--workdir", str(run_copy), str(tmp_path / "set")]) == 1
    assert "no readable test image" in capsys.readouterr().err


def test_a_test_file_the_run_trained_on_is_refused(tmp_path):
    def source(root, paths):
        return FileSource(str(root), paths, np.zeros(len(paths), np.int32), ["a", "b"], DecodeOptions())

    train = source(tmp_path, ["a/1.png", "a/2.png"])
    test = source(tmp_path / "a" / "..", ["a/2.png", "a/3.png"])  # another spelling of the same file
    with pytest.raises(DataIntegrityError, match=r"1 test file\(s\) are also in the run's training"):
        check_test_set(test, (train,), allow_overlap=False)
    check_test_set(test, (train,), allow_overlap=True)
    check_test_set(source(tmp_path, ["a/3.png"]), (train,), allow_overlap=False)
