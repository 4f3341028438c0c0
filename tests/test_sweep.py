"""S0's four freeze scenarios: trainable parameter counts equal torchvision's with
requires_grad=False on the same stages; the sweep tabulates them (train accuracy and the
selected epoch's validation figures, as S0's Tables 3-4), overlays their validation curves (S0's
Figs. 2 and 4) in DIR/sweep.html, reports every run and skips finished runs on a rerun."""

import json
import pathlib
import re
import subprocess
import sys

import numpy as np
import pytest

from artjax.config import load_config
from artjax.runs import compare, sweep_backends
from artjax.sweep import parse_seeds, runs, sweep
from artjax.train import freeze, setup

torch = pytest.importorskip("torch")  # parity with PyTorch; the 3.12 job runs without it
torchvision = pytest.importorskip("torchvision")

ROOT = pathlib.Path(__file__).parents[1]
CONFIG = str(ROOT / "experiments" / "wikiart.py") + ":smoke"
FROZEN = {"none": (), "conv1": ("conv1", "bn1"), "conv1-2": ("conv1", "bn1", "layer1"),
          "conv1-3": ("conv1", "bn1", "layer1", "layer2")}


def _torchvision_trainable(frozen, num_classes=4, arch="resnet50"):
    model = getattr(torchvision.models, arch)()
    model.fc = torch.nn.Linear(model.fc.in_features, num_classes)  # Scenario 1's head: torchvision's fc replaced
    for name, p in model.named_parameters():
        p.requires_grad = not name.startswith(tuple(f"{f}." for f in frozen))
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def test_run_names_and_specs():
    assert runs("x.py:smoke", "freeze=none,conv1") == [("freeze=none", "x.py:smoke,freeze=none"),
                                                        ("freeze=conv1", "x.py:smoke,freeze=conv1")]
    assert runs("x.py", "resizer,baseline") == [("resizer", "x.py:resizer"), ("baseline", "x.py:baseline")]


def test_freeze_scenarios_train_what_torchvision_trains():
    for scenario, frozen in FROZEN.items():
        config = load_config(f"{CONFIG},freeze={scenario}")
        built = setup.build(config, num_classes=4, steps_per_epoch=1)
        assert freeze.count_params(built.model, built.trainable) == _torchvision_trainable(frozen), scenario


# Two of the four scenarios run end to end here, on ResNet18 through the sweep's own --config.*
# override (the ResNet50 counts of all four are checked above; the other two scenarios are built
# and their steps lowered in tests/test_experiments.py).
SWEPT = ("none", "conv1-3")


def test_freeze_sweep_table_matches_torchvision_and_reruns_skip(tmp_path):
    args = [sys.executable, "-m", "artjax.sweep", "--config", CONFIG, "--grid", f"freeze={','.join(SWEPT)}",
            "--workdir", str(tmp_path), "--config.model.name=resnet18", "--config.train.log_every_steps=1"]
    first = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=1200)
    assert first.returncode == 0, first.stderr[-3000:]
    table = (tmp_path / "results.md").read_text()
    for scenario in SWEPT:
        frozen = FROZEN[scenario]
        row = re.search(rf"\| freeze={scenario} \| ([\d,]+) \|", table)
        assert row, table
        assert int(row.group(1).replace(",", "")) == _torchvision_trainable(frozen, arch="resnet18"), scenario
    again = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0 and again.stdout.count("is finished") == len(SWEPT)
    assert (tmp_path / "results.md").read_text() == table
    for scenario in SWEPT:  # every run of a sweep ends with its report, as with artjax.main
        assert (tmp_path / f"freeze={scenario}" / "report" / "index.html").is_file()
        _assert_row_is_the_runs_selected_epoch(table, scenario, tmp_path / f"freeze={scenario}")
    page = (tmp_path / "sweep.html").read_text()  # the papers' comparison: table, overlaid curves, reports
    for _, _, figure in compare.FIGURES:
        assert (tmp_path / figure).stat().st_size > 0 and f'src="{figure}"' in page
    assert all(f'href="freeze={s}/report/index.html"' in page for s in SWEPT)
    assert page.count("<tr>") == 1 + len(SWEPT)


def _assert_row_is_the_runs_selected_epoch(table: str, scenario: str, workdir: pathlib.Path) -> None:
    """The row's figures are those of the run's best validation record; its train accuracy is
    the plain mean of that epoch's per-step records (the sweep logs every step)."""
    records = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
    val = [r for r in records if r["split"] == "val"]
    best = max(val, key=lambda r: r["accuracy"])  # max keeps the first of ties, as the checkpoint ranking
    train = [r["accuracy"] for r in records if r["split"] == "train" and r["epoch"] == best["epoch"]]
    cells = next(line for line in table.splitlines() if line.startswith(f"| freeze={scenario} |")).split("|")[3:-1]
    expected = [np.mean(train), best["accuracy"], best["macro_f1"], best["loss"]]
    assert [float(c) for c in cells[:4]] == pytest.approx(expected, abs=5e-5)
    assert int(cells[4]) == best["epoch"]


def test_epoch_train_accuracy_weights_each_record_by_the_steps_it_covers():
    train = [{"step": 3, "epoch": 1, "accuracy": 0.5}, {"step": 4, "epoch": 1, "accuracy": 1.0},
             {"step": 8, "epoch": 2, "accuracy": 0.25}, {"step": 6, "epoch": 2, "accuracy": 0.75}]
    assert compare.epoch_train_accuracy(train) == pytest.approx({1: (3 * 0.5 + 1.0) / 4, 2: (2 * 0.75 + 2 * 0.25) / 4})


def test_seeds_parse_and_refuse_bad_lists():
    assert parse_seeds(None) is None and parse_seeds("0,1,2") == [0, 1, 2]
    for bad in ("0,x", "1,1", ""):
        with pytest.raises(ValueError, match="--seeds"):
            parse_seeds(bad)


def test_sweep_over_seeds_tabulates_mean_and_spread_of_its_runs(tmp_path):
    """Every variant runs once per seed in DIR/name/seed=S; its row is the mean and sample
    standard deviation of those runs' selected figures; a rerun skips every finished run."""
    spec = str(ROOT / "experiments" / "quickstart.py")
    overrides = [("train.epochs", "1"), ("data.painters.num_train", "48"), ("data.painters.num_val", "32")]
    page = sweep(spec, "smoke", str(tmp_path), overrides=overrides, seeds=[3, 4])
    results = (tmp_path / "results.md").read_text()
    accuracies = []
    for seed in (3, 4):
        run = tmp_path / "smoke" / f"seed={seed}"
        assert json.loads((run / "config.json").read_text())["seed"] == seed
        val = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
        accuracies.append([r for r in val if r["split"] == "val"][-1]["accuracy"])
        assert f"| smoke/seed={seed} |" in results
    row = next(line for line in results.splitlines() if line.startswith("| smoke | 3,4 |")).split("|")
    mean, spread = (float(x) for x in row[5].split("±"))
    assert (mean, spread) == pytest.approx((np.mean(accuracies), np.std(accuracies, ddof=1)), abs=5e-5)
    assert 'id="variants"' in open(page).read()
    again = sweep(spec, "smoke", str(tmp_path), overrides=overrides, seeds=[3, 4])
    assert again == page and (tmp_path / "results.md").read_text() == results


def test_ray_backend_without_ray_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    with pytest.raises(ImportError, match=r"pip install -e '\.\[ray\]'"):
        sweep_backends.import_ray()


def test_bad_flag_value_is_one_line_with_status_2():
    done = subprocess.run([sys.executable, "-m", "artjax.sweep", "--backend", "nope"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stderr.startswith("artjax: ") and "Traceback" not in done.stderr
    assert "--backend" in done.stderr and len(done.stderr.strip().splitlines()) == 1
