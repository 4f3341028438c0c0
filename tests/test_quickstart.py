"""The README's quickstart claim: the real `experiments/quickstart.py` (not its smoke variant)
trains a resnet_mini on 1,200 synthetic paintings for 8 epochs and passes 85 % validation
accuracy on the 300 held-out ones (6 painters: chance is 16.7 %).

The slowest test of the suite (about a minute on 2 cores): it runs in this process, which spares
a subprocess's start-up; the CLI around the same loop is tests/test_main.py's.
"""

import json
import pathlib

from artjax.config import load_config
from artjax.train import loop

ROOT = pathlib.Path(__file__).parents[1]


def test_quickstart_passes_85_percent_validation_accuracy(tmp_path):
    config = load_config(str(ROOT / "experiments" / "quickstart.py"))
    loop.run(config, str(tmp_path))
    records = map(json.loads, (tmp_path / "metrics.jsonl").read_text().splitlines())
    evals = [r for r in records if r["split"] == "val"]
    assert [e["epoch"] for e in evals] == list(range(1, 9))
    assert evals[-1]["count"] == config.data.painters.num_val == 300
    assert evals[-1]["accuracy"] > 0.85, [round(e["accuracy"], 4) for e in evals]
