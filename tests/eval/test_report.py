"""The HTML report of a trained smoke run: every linked file exists, the numbers agree with
scikit-learn, a run without checkpoint still gets a page, and the page renders in Chromium."""

import csv
import html.parser
import json
import pathlib
import shutil
import subprocess

import numpy as np
import pytest
from sklearn.metrics import classification_report

from artjax import report as report_cli
from artjax.runs.report import write_report
from artjax.eval import metrics
from artjax.eval.report import confused_pairs

ROOT = pathlib.Path(__file__).parents[2]


class _Page(html.parser.HTMLParser):
    """Collects the page's links and image sources, and the cells of every table by id."""

    def __init__(self):
        super().__init__()
        self.links, self.images, self.tables = [], [], {}
        self._table, self._row, self._cell = None, None, None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "a":
            self.links.append(attrs["href"])
        elif tag == "img":
            self.images.append(attrs["src"])
        elif tag == "table":
            self._table = self.tables.setdefault(attrs.get("id"), [])
        elif tag == "tr":
            self._row = []
            self._table.append(self._row)
        elif tag in ("td", "th"):
            self._cell = ""

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data

    def handle_endtag(self, tag):
        if tag in ("td", "th"):
            self._row.append(self._cell)
            self._cell = None


def _parse(index):
    page = _Page()
    page.feed(pathlib.Path(index).read_text())
    return page


@pytest.fixture(scope="module")
def run_dir(smoke_run):
    return smoke_run


@pytest.fixture(scope="module")
def index(run_dir):
    # The report the run's own end wrote (artjax.runs.finish -> write_report); the shared run is
    # read-only here, so the tests that rewrite a report work on copies.
    return str(run_dir / "report" / "index.html")


def _val_records(workdir):
    lines = (workdir / "metrics.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r["split"] == "val"]


def test_every_linked_file_exists_and_every_section_is_there(run_dir, index):
    assert index == str(run_dir / "report" / "index.html")
    page = _parse(index)
    report_dir = run_dir / "report"
    for target in page.links + page.images:
        assert (report_dir / target).is_file(), target
    for figure in ("loss.png", "scores.png", "learning_rate.png", "confusion.png"):
        assert figure in page.images
    assert sum(src.startswith("misclassified/") for src in page.images) >= 1
    assert sum(src.startswith("gradcam/") for src in page.images) == 4
    # The nearest training works of each shown mistake (3 each), and the kNN table of knn.json.
    mistakes = sum(src.startswith("misclassified/") for src in page.images)
    assert sum(src.startswith("neighbours/") for src in page.images) == 3 * min(mistakes, 8)
    assert "neighbours.png" in page.links
    knn = json.loads((run_dir / "knn.json").read_text())
    text = pathlib.Path(index).read_text()
    assert 'id="knn"' in text and f"{knn['knn_5']:.4f}" in text and f"{knn['head_accuracy']:.4f}" in text
    assert "predictions.csv" in page.links and "Not in this report" not in pathlib.Path(index).read_text()


def test_per_class_table_equals_sklearn_on_the_report_predictions(run_dir, index):
    with open(run_dir / "report" / "predictions.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    names = json.loads((run_dir / "classes.json").read_text())["class_names"]
    assert len(rows) == _val_records(run_dir)[-1]["count"]
    expected = classification_report([r["true"] for r in rows], [r["predicted"] for r in rows], labels=names,
                                     output_dict=True, zero_division=0)
    table = _parse(index).tables["per-class"]
    assert table[0] == ["class", "precision", "recall", "f1-score", "support"]
    body = {row[0]: row[1:] for row in table[1:]}
    assert list(body)[:len(names)] == names
    for name in names:
        got = [float(v) for v in body[name]]
        want = [expected[name][k] for k in ("precision", "recall", "f1-score", "support")]
        np.testing.assert_allclose(got, want, atol=5e-5)
    assert float(body["accuracy"][2]) == pytest.approx(expected["accuracy"], abs=5e-5)
    for average in ("macro avg", "weighted avg"):  # every class occurs in the smoke labels
        got = [float(v) for v in body[average]]
        want = [expected[average][k] for k in ("precision", "recall", "f1-score", "support")]
        np.testing.assert_allclose(got, want, atol=5e-5)


def test_report_predictions_reproduce_the_best_checkpoints_logged_evaluation(run_dir, index):
    """The report's validation pass sees the same model, data and transform as training did."""
    with open(run_dir / "report" / "predictions.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    names = json.loads((run_dir / "classes.json").read_text())["class_names"]
    confusion = np.zeros((len(names), len(names)), int)
    for r in rows:
        confusion[names.index(r["true"]), names.index(r["predicted"])] += 1
    best = max(_val_records(run_dir), key=lambda r: r["accuracy"])  # quickstart selects by accuracy
    np.testing.assert_array_equal(confusion, best["confusion_matrix"])


def test_table_and_pairs_from_a_confusion_matrix_match_sklearn_with_absent_classes():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 4, 200)  # class 4 never occurs, class 5 is only ever predicted
    predictions = np.where(rng.random(200) < 0.6, labels, rng.integers(0, 6, 200))
    confusion = np.zeros((6, 6), int)
    np.add.at(confusion, (labels, predictions), 1)
    table = metrics.summarize_confusion(confusion)  # what the page's per-class table shows
    expected = classification_report(labels, predictions, output_dict=True, zero_division=0)
    for c in (0, 1, 2, 3, 5):
        for key, name in (("precision", "precision"), ("recall", "recall"), ("f1", "f1-score")):
            assert table["per_class"][key][c] == pytest.approx(expected[str(c)][name])
    assert table["per_class"]["f1"][4] == 0.0 and table["per_class"]["support"][4] == 0
    for ours, theirs in (("macro", "macro avg"), ("weighted", "weighted avg")):
        for key, name in (("precision", "precision"), ("recall", "recall"), ("f1", "f1-score")):
            assert table[f"{ours}_{key}"] == pytest.approx(expected[theirs][name])
    assert table["accuracy"] == pytest.approx(expected["accuracy"])

    pairs = confused_pairs(confusion, k=5)
    off = confusion - np.diag(np.diag(confusion))
    assert [n for _, _, n, _ in pairs] == sorted(off.ravel(), reverse=True)[:5]
    true, pred, count, share = pairs[0]
    assert true != pred and off[true, pred] == count and share == pytest.approx(count / confusion[true].sum())


def test_a_run_without_checkpoint_and_one_evaluation_gets_a_page_with_notes(run_dir, tmp_path):
    workdir = tmp_path / "early"
    workdir.mkdir()
    for name in ("config.json", "classes.json"):
        shutil.copy(run_dir / name, workdir / name)
    first_eval = _val_records(run_dir)[0]
    (workdir / "metrics.jsonl").write_text(json.dumps(first_eval) + "\n")
    (workdir / "report").mkdir()
    shutil.copy(run_dir / "report" / "loss.png", workdir / "report" / "resizer.png")

    index = write_report(str(workdir))
    text = pathlib.Path(index).read_text()
    page = _parse(index)
    for target in page.links + page.images:
        assert (workdir / "report" / target).is_file(), target
    assert "no validation predictions" in text and "learning rate curve" in text  # both as notes
    assert "resizer.png" in page.images and "confusion.png" in page.images
    support = [int(row[-1]) for row in page.tables["per-class"][1:7]]
    assert support == first_eval["per_class"]["support"]  # the table falls back to the logged record


def test_cli_exit_2_for_a_missing_workdir(tmp_path, capsys):
    assert report_cli.main(["--workdir", str(tmp_path / "nope")]) == 2
    assert "no such run directory" in capsys.readouterr().err


PROBE = """<html><body><iframe id="f" src="{src}"></iframe><pre id="out">pending</pre><script>
document.getElementById('f').onload = function () {{
  var images = this.contentDocument.images, broken = [];
  for (var i = 0; i < images.length; i++)
    if (!(images[i].complete && images[i].naturalWidth > 0)) broken.push(images[i].getAttribute('src'));
  document.getElementById('out').textContent = 'images=' + images.length + ' broken=' + JSON.stringify(broken);
}};
</script></body></html>"""


@pytest.mark.skipif(shutil.which("chromium") is None, reason="Chromium is not installed")
def test_headless_chromium_loads_every_image(index, tmp_path):
    probe = tmp_path / "probe.html"
    probe.write_text(PROBE.format(src=pathlib.Path(index).as_uri()))
    result = subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu",
                             "--allow-file-access-from-files", "--virtual-time-budget=10000", "--dump-dom",
                             probe.as_uri()],
                            capture_output=True, text=True, timeout=120)
    expected = len(_parse(index).images)
    assert f"images={expected} broken=[]" in result.stdout, result.stdout[-2000:]
