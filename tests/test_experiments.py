"""Every experiment: the full variants carry the seed's recipe (read from the resolved config);
every variant's smoke form builds and its steps lower, a few take real steps in process, and one
per kind of end-of-run work runs from the CLI with checkpoint, metrics and report."""

import importlib
import json
import pathlib
import subprocess
import sys

import jax
import numpy as np
import pytest
from flax import nnx

from artjax import models
from artjax.config import ConfigError, flat_keys, load_config, validate
from artjax.data import pipeline
from artjax.eval import metrics, report
from artjax.runs.restore import RestoredRun
from artjax.train import loop, setup
from artjax.train.checkpoint import Checkpoints
from artjax.train.mesh import replicate, to_global
from artjax.train.trainer import make_trainer

ROOT = pathlib.Path(__file__).parents[1]
EXP = ROOT / "experiments"


def _cfg(spec):
    config = load_config(str(EXP / spec))
    validate(config)
    return config


def test_wikiart_recipe_s0():
    c = _cfg("wikiart.py")  # the headline: no freeze, 2 FC, StepLR, on the tree's top 25 artists
    assert (c.model.name, c.model.num_classes, c.model.head.kind, c.model.head.layers) == ("resnet50", 0, "mlp", 2)
    assert (c.data.source, c.data.task, c.data.top_classes, c.data.train_split) == ("wikiart", "artist", 25, "")
    assert (c.optimizer.name, c.optimizer.learning_rate, c.optimizer.momentum) == ("sgd", 0.001, 0.9)
    assert (c.schedule.name, c.schedule.step_size, c.schedule.gamma) == ("step", 10, 0.5)
    assert c.loss.class_weighting == "inverse" and c.data.augment == "s0"
    assert c.mix.cutmix_alpha > 0 and c.mix.prob > 0 and c.checkpoint.best_metric == "accuracy"
    assert c.model.weights
    freezes = {v: _cfg(f"wikiart.py:freeze={v}") for v in ("none", "conv1", "conv1-2", "conv1-3")}
    assert {v: f.train.freeze for v, f in freezes.items()} == {
        "none": (), "conv1": ("stem",), "conv1-2": ("stem", "stage1"), "conv1-3": ("stem", "stage1", "stage2")}
    # Scenario 1 as the text implies it: StepLR is the FC scenario's, and its head one FC layer.
    assert all((f.model.head.layers, f.schedule.name) == (1, "constant") for f in freezes.values())
    fcs = [_cfg(f"wikiart.py:fc={n}") for n in (1, 2, 3)]
    assert [(f.model.head.layers, f.schedule.name, f.train.freeze) for f in fcs] == [(n, "step", ()) for n in (1, 2, 3)]
    official = _cfg("wikiart.py:artgan23")  # ArtGAN's 23-artist split: the class count from the data
    assert (official.data.top_classes, official.model.num_classes) == (0, 0) and official.data.train_split
    assert _cfg("wikiart.py:metadata").data.csv


def test_artist50_recipes_s1():
    b3 = _cfg("artist50.py")
    assert (b3.model.name, b3.model.head.kind, b3.model.head.dropout) == ("efficientnet_b3", "logits", 0.3)
    assert (b3.data.augment, b3.data.image_size, b3.eval.view, b3.checkpoint.best_metric) == (
        "s1_b3", 150, "quadrants", "macro_f1")
    assert (b3.data.path_column, b3.data.label_column, b3.model.num_classes) == ("img_path", "artist", 50)
    v2 = _cfg("artist50.py:v2m")
    assert (v2.model.name, v2.model.head.kind, v2.model.head.dropout, v2.optimizer.name, v2.optimizer.learning_rate,
            v2.train.batch_size, v2.train.epochs, v2.data.augment, v2.data.image_size) == (
        "efficientnet_v2_m", "logits", 0.5, "adam", 0.001, 16, 20, "s1_v2_crop", 150)
    assert (v2.schedule.name, v2.schedule.mode, v2.schedule.factor, v2.schedule.patience) == ("plateau", "max", 0.1, 1)
    assert _changed(_cfg("artist50.py:v2m_nocrop"), v2) == {"data.augment": "s1_v2", "train.epochs": 30}
    assert _changed(_cfg("artist50.py:plain_resize"), b3) == {"data.augment": "s1_b3_resize"}
    # In smoke form they differ from a lowered variant (_smokes) only by a preset test_augment.py runs.
    assert _changed(_cfg("artist50.py:smoke,v2m_nocrop"), _cfg("artist50.py:smoke,v2m")) == {"data.augment": "s1_v2"}
    assert _changed(_cfg("artist50.py:smoke,plain_resize"), _cfg("artist50.py:smoke")) == {
        "data.augment": "s1_b3_resize"}
    with pytest.raises(ConfigError, match="exclude each other"):
        _cfg("artist50.py:v2m,plain_resize")
    for rule in ("soft", "hard", "adaptive"):
        p = _cfg(f"artist50_pyramid.py:{rule}")
        assert p.model.pyramid.enabled and p.model.pyramid.rule == rule and p.model.pyramid.levels == (1, 2, 5)
    assert _cfg("artist50_pyramid.py:hard").model.pyramid.level_loss_weight > 0
    paper = _cfg("artist50_pyramid.py:paper").model.pyramid
    assert (paper.levels, paper.per_level_backbone, paper.rule) == ((1, 2, 4), True, "soft")
    assert not _cfg("artist50_pyramid.py").model.pyramid.per_level_backbone  # the team code stays the default


def _changed(config, reference) -> dict:
    """{dotted key: value in `config`} for every leaf that differs from `reference`'s."""
    ours, theirs = _flat(config), _flat(reference)
    return {k: v for k, v in ours.items() if theirs.get(k) != v}


def _flat(config) -> dict:
    values = {}
    for key in flat_keys(config):
        node = config
        for part in key.split("."):
            node = node[part]
        values[key] = node
    return values


def test_artist50_v2m_has_the_seeds_logits_head():
    """Dropout(0.5) + Linear(1000 -> 50) on V2-M's 1000 ImageNet logits, built as the run builds
    it (shapes only: the smoke lowering below compiles nothing either, and builds V2-M once)."""
    config = _cfg("artist50.py:v2m")
    model = nnx.eval_shape(lambda: models.create(config.model.name, num_classes=config.model.num_classes,
                                                 head=setup.head_options(config)))
    assert model.head.imagenet.fc.kernel.shape == (1280, 1000)
    assert model.head.fc.kernel.shape == (1000, 50) and model.head.dropout.rate == 0.5


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
    # Keras keeps the last epoch; the headline 0.934 is the test set's, scored at the end.
    assert (ft.checkpoint.select, ft.data.test_root) == ("last", "data/cats_vs_dogs/test")
    assert _cfg("cats_vs_dogs.py:smoke,finetune_block5").data.test_root == ""


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
    """Every named variant of every experiment, in its smoke form (artist50's plain_resize and
    v2m_nocrop only change the preset of one listed here: test_artist50_recipes_s1)."""
    specs = ["wikiart.py:smoke,fc=1", "wikiart.py:smoke,fc=3", "artist50.py:smoke", "artist50.py:smoke,v2m",
             *[f"artist50_pyramid.py:smoke,{rule}" for rule in ("soft", "hard", "adaptive")]]
    specs += [f"wikiart.py:smoke,freeze={scenario}" for scenario in ("conv1", "conv1-2")]  # the others: test_sweep.py
    for name, key in (("cifar10_resizer", "VARIANTS"), ("cats_vs_dogs", "VARIANTS"), ("kfashion", "MODELS")):
        module = importlib.import_module(f"experiments.{name}")
        specs += [f"{name}.py:smoke,{variant}" for variant in getattr(module, key)]
    return specs


# True CLI runs (train, checkpoints, report) for the model kinds whose end-of-run work differs: a
# Resizer (its figure) and a pyramid (its own view), on resnet_mini as the notebooks run them
# (tests/conftest.py), and a sigmoid model; wikiart's freeze sweep runs in tests/test_sweep.py and
# the quickstart in conftest.py's smoke_run.
CLI_SMOKES = ["cats_vs_dogs.py:smoke,feature_extraction"]
CLI_RUNS = ["resizer_small_run", "pyramid_small_run"]
# Variants that also take real steps in process. XLA's compilation of a train step, not the
# step, is what a smoke run costs (40-60 s for EfficientNet-B3 or V2-M on two cores), so the
# other variants stop after tracing and lowering, which is where a variant's wiring can fail
# (shapes, heads, freeze ranges, views, shardings); their model families train for real here,
# in the CLI runs above, in the notebooks and in the freeze sweep.
STEPPED = ["wikiart.py:smoke,fc=1", "kfashion.py:smoke,alexnet", "cats_vs_dogs.py:smoke,scratch"]
# The 50-artist recipe (quadrant view, per-crop scores and the vote) with its family's smallest
# member, so that an EfficientNet train step runs for real too (B3's compiles for ~40 s more).
B0_RECIPE = "artist50.py:smoke", {"model.name": "efficientnet_b0"}


def _trainer_and_batches(config):
    data = loop.open_data(config)
    trainer = make_trainer(config, num_classes=len(data.class_names), steps_per_epoch=data.steps_per_epoch,
                           class_weights=loop._class_weights(config, data))
    batches = pipeline.train_batches(data.train, epoch=0, batch_size=data.local_batch,
                                     transform=trainer.train_transform, seed=config.seed, bad=data.bad,
                                     options=data.options)
    return data, trainer, (to_global(batch, trainer.batch_sharding) for batch in batches)


@pytest.mark.parametrize("spec", [s for s in _smokes() if s not in [*STEPPED, *CLI_SMOKES]])
def test_smoke_variant_builds_and_its_train_and_eval_steps_lower(spec):
    """The variant's real trainer is built on its real input pipeline, and its train and
    evaluation steps trace and lower for its batches: every shape, head, freeze range, view and
    sharding of the variant is checked short of XLA's compilation."""
    config = _cfg(spec)
    data, trainer, batches = _trainer_and_batches(config)
    assert 0 < trainer.trainable_params <= trainer.total_params
    if config.train.freeze:
        assert trainer.trainable_params < trainer.total_params
    lowered = trainer.train_step.lower(trainer.state, next(batches))
    state_out, out = lowered.out_info
    assert jax.tree.structure(state_out) == jax.tree.structure(trainer.state)
    assert out["loss"].shape == () and out["loss"].dtype == np.float32
    plan = trainer.eval_plan
    batch = next(iter(pipeline.eval_batches(data.val, batch_size=data.eval_batch, transform=plan.transform,
                                            bad=data.bad, options=data.options)))
    counts = replicate(plan.init_counts(), trainer.mesh)
    lowered = trainer.eval_step.lower(trainer.state, to_global(batch, trainer.batch_sharding), counts)
    assert jax.tree.map(lambda s: s.shape, lowered.out_info) == jax.tree.map(np.shape, plan.init_counts())


@pytest.mark.parametrize("spec, overrides", [pytest.param(spec, {}, id=spec) for spec in STEPPED]
                         + [pytest.param(*B0_RECIPE, id="artist50.py:smoke,efficientnet_b0")])
def test_smoke_variant_trains_evaluates_and_round_trips_a_checkpoint(spec, overrides, tmp_path):
    """In process: the variant's real trainer takes two steps on its real input pipeline, the
    validation set is scored through its evaluation view (each crop of the quadrant view, and the
    vote, for the 50-artist recipe), and the state survives a checkpoint."""
    config = _cfg(spec)
    config.update_from_flattened_dict(overrides)
    data, trainer, batches = _trainer_and_batches(config)
    state = trainer.state
    before = _params(state)
    for _, batch in zip(range(2), batches):
        state, out = trainer.train_step(state, batch)
        assert np.isfinite(float(out["loss"]))
    after = _params(state)
    assert any(not np.array_equal(before[k], after[k]) for k in after), "two steps changed no parameter"

    result = loop.evaluate(data, trainer, state)
    crops = 1 if trainer.eval_plan.model_combines or not trainer.eval_plan.per_crop else trainer.eval_plan.num_crops
    assert result["count"] == len(data.val) * crops
    assert 0.0 <= result["accuracy"] <= 1.0 and np.isfinite(result["loss"])
    assert ("voted_accuracy" in result) == (crops > 1)

    checkpoints = Checkpoints(str(tmp_path / "checkpoints"), keep=1, keep_best=1, best_metric="accuracy")
    checkpoints.save(2, state, {"note": spec}, metrics={"accuracy": result["accuracy"]})
    restored, meta = checkpoints.restore(2, jax.tree.map(loop._abstract, state))
    checkpoints.close()
    assert meta == {"note": spec}
    again = _params(restored)
    assert after.keys() == again.keys() and all(np.array_equal(after[k], again[k]) for k in after)


# The paper's reading of the pyramid (levels 1, 2, 4, a backbone per level) on resnet_mini.
PAPER_PYRAMID = "artist50_pyramid.py:smoke,paper", {"model.name": "resnet_mini"}
LEVEL_BACKBONES = ("backbone", "backbone_2x2", "backbone_4x4")


def test_paper_pyramid_trains_evaluates_restores_and_predicts(tmp_path):
    """In process: three backbones, separate and initialised equal (three times the parameters),
    two train steps, one evaluation with the top-2 scores, and a checkpoint restored into a
    model built afresh from the config, whose predictions (restore.RestoredRun's classifier,
    as predict and the report use it) score what the evaluation scored."""
    spec, overrides = PAPER_PYRAMID
    config = _cfg(spec)
    config.update_from_flattened_dict(overrides)
    data, trainer, batches = _trainer_and_batches(config)

    def per_level(state):
        groups = {name: {} for name in LEVEL_BACKBONES}
        for key, value in _params(state).items():
            _, owner, rest = key.split("/", 2)  # "0/<backbone>/<path>": the model's part of (model, optimizer)
            groups[owner][rest] = value
        return groups

    start = per_level(trainer.state)
    assert trainer.total_params == 3 * sum(v.size for v in start["backbone"].values())
    for name in LEVEL_BACKBONES[1:]:
        assert start[name].keys() == start["backbone"].keys()
        assert all(np.array_equal(start[name][k], start["backbone"][k]) for k in start[name])
    state = trainer.state
    for _, batch in zip(range(2), batches):
        state, out = trainer.train_step(state, batch)
        assert np.isfinite(float(out["loss"]))
    trained = per_level(state)
    for name in LEVEL_BACKBONES:  # each level's backbone learnt, and from its own crops
        assert any(not np.array_equal(trained[name][k], start[name][k]) for k in start[name]), name
    assert any(not np.array_equal(trained["backbone_2x2"][k], trained["backbone_4x4"][k]) for k in start["backbone"])

    result = loop.evaluate(data, trainer, state)
    assert result["count"] == len(data.val)
    assert all(0.0 <= result[k] <= 1.0 for k in metrics.TOP2_KEYS)

    checkpoints = Checkpoints(str(tmp_path / "checkpoints"), keep=1, keep_best=1, best_metric="accuracy")
    checkpoints.save(2, state, {}, metrics={"accuracy": result["accuracy"]})
    built = setup.build(config, num_classes=len(data.class_names), steps_per_epoch=1)
    _, eval_graphdef, fresh = setup.split_modes(built, config)
    restored, _ = checkpoints.restore(2, jax.tree.map(loop._abstract, fresh))
    checkpoints.close()
    model, _ = nnx.merge(eval_graphdef, restored)
    run = RestoredRun(model, config, data.class_names, 2, None)
    evaluation = report.evaluate_source(run.classifier(batch_size=8), data.val, transform=run.eval_transform(),
                                        image_size=config.data.image_size, view="pyramid", errors=(OSError,))
    assert evaluation.view == "pyramid" and len(evaluation.labels) == len(data.val)
    predicted = metrics.summarize_probabilities(evaluation.probs, evaluation.labels)
    for key in ("accuracy", "macro_f1", *metrics.TOP2_KEYS):
        assert predicted[key] == pytest.approx(result[key], abs=1e-6), key


def _params(state) -> dict[str, np.ndarray]:
    return {"/".join(map(str, path)): np.asarray(v.get_value())
            for path, v in nnx.to_flat_state(state) if isinstance(v, nnx.Param)}


@pytest.mark.parametrize("spec", CLI_SMOKES)
def test_smoke_variant_runs_end_to_end_from_the_cli(spec, tmp_path):
    result = subprocess.run([sys.executable, "-m", "artjax.main", "--config", str(EXP / spec), "--workdir",
                             str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    _assert_finished(tmp_path)


@pytest.mark.parametrize("run", CLI_RUNS)
def test_pyramid_and_resizer_runs_end_to_end_from_the_cli(run, request):
    workdir = request.getfixturevalue(run)
    _assert_finished(workdir)
    index = (workdir / "report" / "index.html").read_text()
    if "resizer" in run:
        assert (workdir / "report" / "resizer.png").is_file() and "resizer.png" in index
    else:
        assert "(view pyramid)" in index  # the report predicted through the model's own pyramid
        assert 'id="top2"' in index  # Jangtjik et al.'s Table 1(b) scores, of the same predictions
        records = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
        assert all(k in r for r in records if r["split"] == "val" for k in metrics.TOP2_KEYS)


def _assert_finished(workdir: pathlib.Path) -> None:
    evals = [r for r in map(json.loads, (workdir / "metrics.jsonl").read_text().splitlines()) if r["split"] == "val"]
    assert [e["epoch"] for e in evals] == [1, 2]
    assert any(p.name.isdigit() for p in (workdir / "checkpoints").iterdir())
    index = (workdir / "report" / "index.html").read_text()
    assert "Not in this report" not in index, index  # every section made: predictions, gallery, Grad-CAM
