"""S0's four freeze scenarios: trainable parameter counts equal torchvision's with
requires_grad=False on the same stages; the sweep tabulates them, reports every run and skips
finished runs on a rerun."""

import pathlib
import re
import subprocess
import sys

import torch
import torchvision

from artjax.config import load_config
from artjax.sweep import runs
from artjax.train import freeze, setup

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
            "--workdir", str(tmp_path), "--config.model.name=resnet18"]
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
