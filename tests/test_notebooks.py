"""The Colab notebooks run top to bottom in their small mode (SMALL = True) on CPU.

The quickstart and pyramid-and-Resizer notebooks start from the finished runs of conftest.py
(`smoke_run`, `pyramid_small_run`, `resizer_small_run`: the commands their cells run), so their
training cells report those runs as a re-run notebook does; the trainings themselves are checked
by tests/test_main.py and tests/test_experiments.py.
"""

import os
import re
import shutil

import nbformat
import pytest
from nbclient import NotebookClient

COLAB = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "colab")

# notebook -> files (under the runs folder) that only a complete run writes
EXPECTED = {
    "quickstart.ipynb": ["quickstart_small/report/index.html", "quickstart_small/new_paintings.csv"],
    "finetune_your_paintings.ipynb": ["resnet50_random", "wikiart_folder_small/report/index.html",
                                      "wikiart_folder_small/predictions_new.csv"],
    "pyramid_and_resizer.ipynb": ["pyramid_adaptive_small/report/index.html", "resizer_small/report/resizer.png"],
}
# notebook -> {conftest.py fixture: the run folder the notebook finds it in}
STARTS = {
    "quickstart.ipynb": {"smoke_run": "quickstart_small"},
    "pyramid_and_resizer.ipynb": {"pyramid_small_run": "pyramid_adaptive_small", "resizer_small_run": "resizer_small"},
}
# notebook -> {pattern: how many times the notebook's cells print it}
PRINTED = {
    "quickstart.ipynb": {
        r"run in \S+/quickstart_small is finished": 1,
        r"report: \S+/quickstart_small/report/index\.html": 2,  # the CLI and the report cell
        r"epoch \d: loss \d+\.\d{3}  accuracy \d\.\d{3}  macro-F1 \d\.\d{3}": 2,  # the metrics cell
        r"painting_\d\.png: true \w+ +predicted \w+ +p=\d\.\d\d": 6,
    },
    "finetune_your_paintings.ipynb": {
        r"(?m)^\w+: 12 images$": 3,
        r"epoch \d/2: loss=\d+\.\d{4}, accuracy=": 2,
        r"best checkpoint: step \d+, validation accuracy \d\.\d{3}, macro-F1 \d\.\d{3}": 1,
        r"(?m)^\w+_\d\.png: \w+ \(\d+%\)$": 3,
    },
    "pyramid_and_resizer.ipynb": {
        r"level [12]x[12]: start \d\.\d{3} -> learned \d\.\d{3}": 2,
        r"run in \S+/(pyramid_adaptive|resizer)_small is finished": 2,
        r"(?m)^\S+/(pyramid_adaptive|resizer)_small/report/index\.html$": 2,  # the last cell
    },
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_notebook_runs_in_small_mode(name, tmp_path, monkeypatch, request):
    nb = nbformat.read(os.path.join(COLAB, name), as_version=4)
    assert nb.cells[0].source.startswith("SMALL = True"), "the first cell must select the small mode"
    for fixture, run in STARTS.get(name, {}).items():
        shutil.copytree(request.getfixturevalue(fixture), tmp_path / run)
    monkeypatch.setenv("ARTJAX_RUNS", str(tmp_path))
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": COLAB}}).execute()
    printed = "".join(out.get("text", "") for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs
                      if out.output_type == "stream" and out.name == "stdout")
    for pattern, count in PRINTED[name].items():
        assert len(re.findall(pattern, printed)) == count, f"{name} printed {pattern!r} not {count} times:\n{printed}"
    for relative in EXPECTED[name]:
        assert os.path.exists(tmp_path / relative), f"{name} did not write {relative}"
        if relative.endswith(".csv"):  # a header and one row per predicted painting
            with open(tmp_path / relative) as f:
                assert len(f.read().splitlines()) > 1, f"{relative} holds no prediction"
    images = [out for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs
              if "image/png" in out.get("data", {})]
    assert images, f"{name} displayed no figure"


def test_readme_links_open_every_notebook_of_the_repository_it_clones():
    with open(os.path.join(os.path.dirname(COLAB), "README.md")) as f:
        readme = f.read()
    for name in EXPECTED:
        nb = nbformat.read(os.path.join(COLAB, name), as_version=4)
        repo = re.search(r'REPO_URL = "https://github.com/([\w.-]+/[\w.-]+)"', "".join(c.source for c in nb.cells))
        assert repo, f"{name} has no REPO_URL"
        assert f"(https://colab.research.google.com/github/{repo.group(1)}/blob/main/colab/{name})" in readme
