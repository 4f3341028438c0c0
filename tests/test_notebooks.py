"""The Colab notebooks run top to bottom in their small mode (SMALL = True) on CPU."""

import os
import re

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


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_notebook_runs_in_small_mode(name, tmp_path, monkeypatch):
    nb = nbformat.read(os.path.join(COLAB, name), as_version=4)
    assert nb.cells[0].source.startswith("SMALL = True"), "the first cell must select the small mode"
    monkeypatch.setenv("ARTJAX_RUNS", str(tmp_path))
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": COLAB}}).execute()
    errors = [out for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs
              if out.output_type == "error"]
    assert not errors
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
