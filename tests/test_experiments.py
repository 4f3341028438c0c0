"""Every experiment: the full variants carry the seed's recipe (read from the resolved config),
and every variant's smoke form runs end to end from the CLI with checkpoint, metrics and report."""

import importlib
import json
import pathlib
import subprocess
import sys

import pytest

from artjax.config import load_config, validate

ROOT = pathlib.Path(__file__).parents[1]
EXP = ROOT / "experiments"


def _cfg(spec):
    config = load_config(str(EXP / spec))
    validate(config)
    return config


def test_wikiart_recipe_s0():
    c = _cfg("wikiart.py")
    assert (c.model.name, c.model.num_classes, c.model.head.kind, c.model.head.layers) == ("resnet50", 25, "mlp", 2)
    assert (c.optimizer.name, c.optimizer.learning_rate, c.optimizer.momentum) == ("sgd", 0.001, 0.9)
    assert (c.schedule.name, c.schedule.step_size, c.schedule.gamma) == ("step", 10, 0.5)
    assert c.loss.class_weighting == "inverse" and c.data.augment == "s0"
    assert c.mix.cutmix_alpha > 0 and c.mix.prob > 0 and c.checkpoint.best_metric == "accuracy"
    assert c.data.source == "wikiart" and c.model.weights
    freezes = {v: _cfg(f"wikiart.py:freeze={v}").train.freeze for v in ("none", "conv1", "conv1-2", "conv1-3")}
    assert freezes == {"none": (), "conv1": ("stem",), "conv1-2": ("stem", "stage1"),
                       "conv1-3": ("stem", "stage1", "stage2")}
    assert [_cfg(f"wikiart.py:fc={n}").model.head.layers for n in (1, 2, 3)] == [1, 2, 3]


def test_artist50_recipes_s1():
    b3 = _cfg("artist50.py")
    assert (b3.model.name, b3.model.head.kind, b3.model.head.dropout) == ("efficientnet_b3", "logits", 0.3)
    assert (b3.data.augment, b3.data.image_size, b3.eval.view, b3.checkpoint.best_metric) == (
        "s1_b3", 150, "quadrants", "macro_f1")
    assert (b3.data.path_column, b3.data.label_column, b3.model.num_classes) == ("img_path", "artist", 50)
    v2 = _cfg("artist50.py:v2m")
    assert (v2.model.name, v2.model.head.dropout, v2.optimizer.name, v2.data.augment) == (
        "efficientnet_v2_m", 0.5, "adam", "s1_v2")
    assert (v2.schedule.name, v2.schedule.mode, v2.schedule.factor, v2.schedule.patience) == ("plateau", "max", 0.1, 1)
    for rule in ("soft", "hard", "adaptive"):
        p = _cfg(f"artist50_pyramid.py:{rule}")
        assert p.model.pyramid.enabled and p.model.pyramid.rule == rule and p.model.pyramid.levels == (1, 2, 5)
    assert _cfg("artist50_pyramid.py:hard").model.pyramid.level_loss_weight > 0


def test_cifar10_resizer_recipes_s2():
    for name in ("baseline", "cutmix", "resizer", "resizer_cutmix", "resizer_cbam", "resizer_cbam_cutmix"):
        c = _cfg(f"cifar10_resizer.py:{name}")
        assert (c.model.name, c.model.num_classes, c.model.head.kind) == ("vgg16", 10, "vgg_classifier")
        assert (c.optimizer.name, c.optimizer.learning_rate, c.train.batch_size, c.train.epochs) == ("sgd", 0.01, 128, 300)
        assert (c.schedule.name, c.schedule.milestones, c.schedule.gamma) == ("multistep", (100, 150), 0.1)
        assert c.data.augment == "s2" and c.model.resizer.target_size == 224
        assert (c.mix.prob == 0.5) == ("cutmix" in name)
        assert c.model.resizer.cbam == ("cbam" in name)
        assert (c.train.freeze == ("resizer",)) == (name in ("baseline", "cutmix"))


def test_cats_vs_dogs_recipes_s3():
    fe = _cfg("cats_vs_dogs.py:feature_extraction")
    assert (fe.model.name, fe.data.image_size, fe.model.head.kind, fe.model.head.units, fe.loss.kind) == (
        "vgg16", 150, "dense", 256, "sigmoid")
    assert fe.train.freeze == ("stage1", "stage2", "stage3", "stage4", "stage5") and fe.optimizer.name == "adam"
    ft = _cfg("cats_vs_dogs.py:finetune_block5")
    assert ft.train.freeze == ("stage1", "stage2", "stage3", "stage4") and ft.optimizer.name == "rmsprop"
    assert _cfg("cats_vs_dogs.py:scratch").model.weights == ""
    assert fe.data.augment == "s3" and (fe.train.epochs, fe.train.batch_size) == (30, 20)


def test_kfashion_recipes_s4():
    alex = _cfg("kfashion.py:alexnet")
    assert (alex.model.name, alex.data.image_size, alex.model.head.dropout, alex.optimizer.weight_decay,
            alex.optimizer.learning_rate) == ("alexnet_bn", 227, 0.8, 1e-3, 1e-4)
    goog = _cfg("kfashion.py:googlenet")
    assert (goog.optimizer.name, goog.optimizer.learning_rate, goog.optimizer.weight_decay, goog.model.head.dropout,
            goog.train.batch_size) == ("adamw", 5e-4, 5e-3, 0.4, 64)
    assert _cfg("kfashion.py:resnet34").model.name == "resnet34"
    assert _cfg("kfashion.py:densenet").train.batch_size == 64
    assert all(_cfg(f"kfashion.py:{m}").data.augment == "s4" for m in ("alexnet", "vgg8", "vgg10", "densenet"))


def _smokes() -> list[str]:
    """Every named variant of every experiment, in its smoke form. wikiart's four freeze
    scenarios run in tests/test_sweep.py; its FC scenarios run here."""
    specs = ["wikiart.py:smoke,fc=1", "wikiart.py:smoke,fc=3", "artist50.py:smoke", "artist50.py:smoke,v2m",
             *[f"artist50_pyramid.py:smoke,{rule}" for rule in ("soft", "hard", "adaptive")]]
    for name, key in (("cifar10_resizer", "VARIANTS"), ("cats_vs_dogs", "VARIANTS"), ("kfashion", "MODELS")):
        module = importlib.import_module(f"experiments.{name}")
        specs += [f"{name}.py:smoke,{variant}" for variant in getattr(module, key)]
    return specs


@pytest.mark.parametrize("spec", _smokes())
def test_smoke_variant_runs_end_to_end(spec, tmp_path):
    result = subprocess.run([sys.executable, "-m", "artjax.main", "--config", str(EXP / spec), "--workdir",
                             str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    evals = [r for r in map(json.loads, (tmp_path / "metrics.jsonl").read_text().splitlines()) if r["split"] == "val"]
    assert [e["epoch"] for e in evals] == [1, 2]
    assert any(p.name.isdigit() for p in (tmp_path / "checkpoints").iterdir())
    assert (tmp_path / "report" / "index.html").is_file()
    if "resizer" in spec:
        assert (tmp_path / "report" / "resizer.png").is_file()
