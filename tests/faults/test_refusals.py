"""Faults a run meets in process: odd paths, a held workdir, a resume with another model,
optimiser, classes or data, damaged checkpoints, duplicate rows, one class, unwritable paths,
non-finite config values and images above Pillow's own pixel limit. Each ends with a restorable
run or a refusal of a few lines naming what differs (never an orbax tree dump)."""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

from artjax import predict
from artjax.config import ConfigError, load_config, validate
from artjax.data import catalog, integrity, scan
from artjax.data.decode import decode_image
from artjax.rundir import RunDir, RunLocked
from artjax.runs.errors import training_errors
from artjax.runs.restore import load_run
from artjax.train import loop

ROOT = pathlib.Path(__file__).parents[2]
SMOKE = str(ROOT / "experiments" / "quickstart.py") + ":smoke"
ODD = "r50[lr=0.1] #1 ?%é"  # glob characters, a space, a URL's # ? %, non-ASCII


def _smoke(**overrides):
    config = load_config(SMOKE)
    config.update_from_flattened_dict(overrides)
    return config


def _paintings(root: pathlib.Path, classes=("degas", "monet", "vermeer"), per_class=8, size=24) -> pathlib.Path:
    """root/<class>/<i>.png: a colour per class, noise per image."""
    rng = np.random.default_rng(0)
    for label, name in enumerate(classes):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            image = rng.integers(0, 60, (size, size, 3), dtype=np.uint8)
            image[..., label % 3] += 180
            Image.fromarray(image).save(root / name / f"{i}.png")
    return root


def _folder_run(data_root: pathlib.Path, **overrides):
    return _smoke(**{"data.source": "folder", "data.root": str(data_root), "data.image_size": 16,
                     "train.batch_size": 8, "train.epochs": 1, **overrides})


def test_glob_and_non_ascii_characters_in_every_path_leave_a_restorable_run(tmp_path):
    base = tmp_path / ODD
    config = _folder_run(_paintings(base / "data"), **{"data.cache_dir": str(base / "cache")})
    loop.run(config, str(base / "run"))
    restored = load_run(str(base / "run"))
    assert restored.class_names == ["degas", "monet", "vermeer"] and restored.step == 2
    assert os.listdir(base / "cache")  # the decoded-image cache lives under the odd path too

    from artjax import models
    from artjax.weights import save, store

    model = models.create("resnet_mini", num_classes=3, seed=1)
    weights = base / "w" / "r18[v1]"
    save(store.model_arrays(model), str(weights), arch="resnet_mini", source="artjax", num_classes=3,
         head=model.head_spec, preprocessing=model.preprocessing.to_dict())
    loaded = models.create("resnet_mini", num_classes=3, seed=2, weights=str(weights))
    a, b = store.model_arrays(model), store.model_arrays(loaded)
    assert all(np.array_equal(a[k], b[k]) for k in a)


def test_a_held_workdir_refuses_a_second_run_at_once_and_is_free_after_sigkill(tmp_path):
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from artjax.rundir import RunDir\n"
         "with RunDir(sys.argv[1]).lock():\n    print('held', flush=True); time.sleep(120)", str(tmp_path)],
        cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        started = time.perf_counter()
        with pytest.raises(RunLocked, match=rf"in use by pid {holder.pid} on \S+ since "):
            loop.run(_smoke(), str(tmp_path))
        assert time.perf_counter() - started < 5  # at once: nothing built, nothing trained
        assert not (tmp_path / "checkpoints").exists()
    finally:
        holder.kill()  # SIGKILL: the kernel drops the lock with the process
        holder.wait()
    with RunDir(str(tmp_path)).lock():
        pass


@pytest.fixture(scope="module")
def one_epoch(tmp_path_factory) -> tuple[pathlib.Path, pathlib.Path]:
    """(data root, workdir) of a one-epoch folder run, resumable with train.epochs=2."""
    base = tmp_path_factory.mktemp("one_epoch")
    data = _paintings(base / "data")
    loop.run(_folder_run(data), str(base / "run"))
    return data, base / "run"


def _copy(one_epoch, tmp_path) -> tuple[pathlib.Path, pathlib.Path]:
    data, run = one_epoch
    shutil.copytree(data, tmp_path / "data")
    shutil.copytree(run, tmp_path / "run")
    return tmp_path / "data", tmp_path / "run"


def _refusal(config, workdir) -> str:
    with pytest.raises(loop.NotTheSameRun) as error:
        loop.run(config, str(workdir))
    message = str(error.value)
    assert len(message) < 1500 and "Traceback" not in message and "PyTreeDef" not in message
    return message


def test_renamed_classes_or_changed_images_refuse_to_resume(one_epoch, tmp_path):
    data, run = _copy(one_epoch, tmp_path)
    (data / "monet").rename(data / "renoir")
    message = _refusal(_folder_run(data, **{"train.epochs": 2}), run)
    assert "class_names: the run has 'degas, monet, vermeer', this config 'degas, renoir, vermeer'" in message
    (data / "renoir").rename(data / "monet")
    Image.fromarray(np.zeros((24, 24, 3), np.uint8)).save(data / "degas" / "extra.png")
    message = _refusal(_folder_run(data, **{"train.epochs": 2}), run)
    assert "data.train.examples" in message or "data.val.examples" in message


def test_another_optimiser_freeze_or_momentum_refuses_to_resume_naming_each_key(one_epoch, tmp_path):
    data, run = _copy(one_epoch, tmp_path)
    message = _refusal(_folder_run(data, **{"train.epochs": 2, "optimizer.name": "adam", "train.freeze": ("stem",)}),
                       run)
    assert "optimizer.name: the run has 'sgd', this config 'adam'" in message
    assert "train.freeze: the run has [], this config ['stem']" in message
    # Not an identity key, but it changes the optimiser's state tree: the restore names it.
    message = _refusal(_folder_run(data, **{"train.epochs": 2, "optimizer.momentum": 0.0}), run)
    assert "does not fit the model and optimiser" in message
    assert "optimizer.momentum: the run has 0.9, this config 0.0" in message
    # What may change on resume changes: the run continues, and only then rewrites config.json.
    # A run written before a key existed resumes (its identity.json lacks the key).
    identity = json.loads((run / "identity.json").read_text())
    del identity["config"]["model.pyramid"]["per_level_backbone"]
    (run / "identity.json").write_text(json.dumps(identity))
    config_before = (run / "config.json").read_text()
    loop.run(_folder_run(data, **{"train.epochs": 2, "optimizer.learning_rate": 0.01}), str(run))
    assert json.loads((run / "config.json").read_text())["optimizer"]["learning_rate"] == 0.01 != json.loads(
        config_before)["optimizer"]["learning_rate"]


def _damage(run: pathlib.Path, step: int) -> None:
    """Truncates the largest array file of checkpoint `step` (a copy cut short)."""
    files = [p for p in (run / "checkpoints" / str(step)).rglob("*") if p.is_file() and "/d/" in str(p)]
    largest = max(files, key=lambda p: p.stat().st_size)
    with open(largest, "r+b") as f:
        f.truncate(largest.stat().st_size // 2)


def test_a_damaged_newest_checkpoint_is_skipped_by_predict_and_report_and_set_aside_by_training(
        one_epoch, tmp_path, capsys, caplog):
    data, run = _copy(one_epoch, tmp_path)
    loop.run(_folder_run(data, **{"train.epochs": 2, "checkpoint.keep": 5}), str(run))  # steps 2 and 4
    _damage(run, 4)
    assert load_run(str(run), which="latest").step == 2
    assert "checkpoint" in caplog.text and "4 is damaged and skipped" in caplog.text
    image = str(data / "degas" / "0.png")
    assert predict.main(["--workdir", str(run), "--step", "4", image]) == 2
    assert "the checkpoint at step 4 of" in capsys.readouterr().err
    assert predict.main(["--workdir", str(run), "--step", "2", image]) == 0
    (run / "checkpoints" / "2" / "state" / "manifest.ocdbt").unlink()  # now no checkpoint reads
    with pytest.raises(FileNotFoundError, match="every checkpoint of .* is damaged"):
        load_run(str(run))
    shutil.rmtree(run)
    shutil.copytree(one_epoch[1], run)
    loop.run(_folder_run(data, **{"train.epochs": 2, "checkpoint.keep": 5}), str(run))
    _damage(run, 4)
    partial = run / "checkpoints" / "6.orbax-checkpoint-tmp-1764770000"  # a save a kill cut short
    (partial / "state").mkdir(parents=True)
    load_run(str(run), which="latest")
    assert partial.is_dir()  # a reader never deletes: it may be a save in progress
    result = loop.run(_folder_run(data, **{"train.epochs": 2, "checkpoint.keep": 5}), str(run))
    assert result.resumed_from == 2 and result.step == 4  # epoch 2 trained again from step 2
    assert not partial.exists() and "a save that a kill cut short" in caplog.text
    assert (run / "corrupt_checkpoints" / "4").is_dir()  # set aside, never deleted
    assert load_run(str(run), which="latest").step == 4


def _csv(path: pathlib.Path, rows: list[tuple[str, str]]) -> str:
    path.write_text("img_path,artist\n" + "".join(f"{p},{label}\n" for p, label in rows))
    return str(path)


def test_duplicate_and_conflicting_rows_and_one_class_are_caught_before_training(tmp_path, caplog):
    data = _paintings(tmp_path / "data")
    train = [(f"{name}/{i}.png", name) for name in ("degas", "monet", "vermeer") for i in range(6)]
    val = [(f"{name}/{i}.png", name) for name in ("degas", "monet", "vermeer") for i in range(6, 8)]
    config = _smoke(**{"data.source": "csv", "data.root": str(data), "data.val_csv": _csv(tmp_path / "val.csv", val)})
    config.data.csv = _csv(tmp_path / "leak.csv", train + [val[0]])
    with pytest.raises(integrity.DataIntegrityError, match=r"1 file\(s\) are in both .*degas/6\.png"):
        catalog.open_sources(config.data)
    config.data.allow_overlap = True
    catalog.open_sources(config.data)
    config.data.csv = _csv(tmp_path / "conflict.csv", train + [("degas/0.png", "monet")])
    with pytest.raises(integrity.DataIntegrityError, match=r"different labels: \S+degas/0\.png \(degas / monet\)"):
        catalog.open_sources(config.data)
    config.data.csv = _csv(tmp_path / "twice.csv", train + [train[0]])
    config.data.val_csv = _csv(tmp_path / "val2.csv", [r for r in val if not r[1] == "vermeer"])
    catalog.open_sources(config.data)
    assert "listed more than once in the train split" in caplog.text
    assert "no example of 1 training class(es): vermeer" in caplog.text
    one = _smoke(**{"data.source": "folder", "data.root": str(data / "..")})
    (tmp_path / "solo").mkdir()
    shutil.copytree(data / "degas", tmp_path / "solo" / "degas")
    one.data.root = str(tmp_path / "solo")
    with pytest.raises(integrity.DataIntegrityError, match="has 1 class"):
        loop.run(one, str(tmp_path / "run"))
    assert not (tmp_path / "run" / "checkpoints").exists() or not os.listdir(tmp_path / "run" / "checkpoints")


def test_the_scan_finds_files_with_identical_pixels_across_the_splits(tmp_path):
    data = _paintings(tmp_path / "data")
    shutil.copy(data / "degas" / "0.png", data / "degas" / "copy.png")
    train = [(f"{n}/{i}.png", n) for n in ("degas", "monet", "vermeer") for i in range(6)]
    val = [("degas/copy.png", "degas")] + [(f"{n}/7.png", n) for n in ("monet", "vermeer")]
    config = _smoke(**{"data.source": "csv", "data.root": str(data), "data.csv": _csv(tmp_path / "t.csv", train),
                       "data.val_csv": _csv(tmp_path / "v.csv", val)})
    reports = [scan.scan_source(source) for source in catalog.open_sources(config.data)]
    groups = scan.identical_contents(*reports)
    assert groups == [sorted([str(data / "degas" / "0.png"), str(data / "degas" / "copy.png")])]


def test_unwritable_paths_and_non_finite_values_are_one_line(tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    with pytest.raises(SystemExit) as stop, training_errors():
        loop.run(_smoke(), str(blocker / "run"))
    assert stop.value.code == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Not a directory" in err
    for key in ("optimizer.learning_rate", "loss.label_smoothing"):
        config = _smoke(**{key: float("nan")})
        with pytest.raises(ConfigError, match=f"'{key}': must be a finite number, got nan"):
            validate(config)
    config = _smoke(**{"model.pyramid.weights": (1.0, float("inf"), 1.0)})
    with pytest.raises(ConfigError, match="model.pyramid.weights"):
        validate(config)


def test_predict_out_must_be_a_writable_file(smoke_run, tmp_path, capsys):
    image = tmp_path / "painting.png"
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(image)
    for out in (tmp_path, tmp_path / "missing" / "p.csv"):
        assert predict.main(["--workdir", str(smoke_run), "--out", str(out), str(image)]) == 2
        assert f"--out {out}: not a file in an existing directory" in capsys.readouterr().err


def test_max_pixels_above_pillows_own_limit_takes_effect(tmp_path, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # Pillow refuses > 200 px before artjax looks
    path = tmp_path / "big.png"
    Image.fromarray(np.zeros((30, 30, 3), np.uint8)).save(path)  # 900 px
    assert decode_image(str(path), max_pixels=1000).shape == (30, 30, 3)
    with pytest.raises(Exception, match="exceeds data.max_pixels=800"):
        decode_image(str(path), max_pixels=800)


def test_a_partial_last_metrics_line_is_dropped_and_a_bad_one_elsewhere_named(tmp_path):
    run_dir = RunDir(str(tmp_path))
    run_dir.append_metrics({"split": "train", "step": 1, "loss": 1.0})
    with open(run_dir.metrics, "a") as f:
        f.write('{"split": "train", "st')  # a kill in the middle of an append
    assert run_dir.read_metrics() == [{"split": "train", "step": 1, "loss": 1.0}]
    with open(run_dir.metrics, "a") as f:
        f.write("\n")
    run_dir.append_metrics({"split": "train", "step": 2, "loss": 1.0})
    with pytest.raises(ValueError, match="line 2 is not JSON"):
        run_dir.read_metrics()


def test_the_best_checkpoint_survives_a_resume(tmp_path):
    import jax.numpy as jnp

    from artjax.train.checkpoint import Checkpoints

    def checkpoints():
        return Checkpoints(str(tmp_path), keep=2, keep_best=1, best_metric="accuracy")

    first = checkpoints()
    first.save(4, {"a": jnp.ones(2)}, {"epoch": 1}, metrics={"accuracy": 0.9})
    first.save(5, {"a": jnp.ones(2)}, {"epoch": 1}, metrics={"accuracy": 0.5})
    first.close()
    resumed = checkpoints()  # a new process: orbax itself kept the metrics in memory only
    for step in (6, 7):
        resumed.save(step, {"a": jnp.ones(2)}, {"epoch": 1})
    assert resumed.steps() == [4, 6, 7]  # the best (step 4) kept, the worse evaluated one dropped
    resumed.close()
