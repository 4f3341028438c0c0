"""WikiArt as users have it: a miniature ArtGAN tree (28 artists, long-tailed, five style folders,
Monet in two of them, malformed names), its top-N selection and ties, the labels of each task, the
stratified split, ArtGAN's CSV split files and a metadata CSV; and S0's smoke form trained on the
tree from the CLI."""

import json
import logging
import pathlib
import subprocess
import sys

import numpy as np
import pytest
from images import data_config, jpeg_bytes

from artjax.data import catalog
from artjax.data.sources import make_source
from artjax.data.sources.wikiart import top_classes

ROOT = pathlib.Path(__file__).parents[2]
STYLES = ["Baroque", "Cubism", "Impressionism", "Post_Impressionism", "Realism"]
# Works per artist, long-tailed like S0's (Van Gogh most); the last six tie at 2 around the 25th place.
WORKS = {
    "vincent-van-gogh": 12, "nicholas-roerich": 10, "pierre-auguste-renoir": 9, "claude-monet": 8,
    "pyotr-konchalovsky": 7, "albrecht-durer": 6, "edgar-degas": 6, "camille-pissarro": 5, "john-singer-sargent": 5,
    "ivan-aivazovsky": 5, "pablo-picasso": 4, "marc-chagall": 4, "paul-cezanne": 4, "rembrandt": 4,
    "boris-kustodiev": 3, "childe-hassam": 3, "eugene-boudin": 3, "gustave-dore": 3, "ilya-repin": 3,
    "ivan-shishkin": 3, "martiros-saryan": 3, "raphael-kirchner": 3, "salvador-dali": 2, "camille-corot": 2,
    "gustave-courbet": 2, "henri-matisse": 2, "amedeo-modigliani": 2, "paul-gauguin": 2,
}
# The 25 with most works: 22 with three or more, then three of the six at 2, by name.
TOP25 = sorted([a for a, n in WORKS.items() if n >= 3] + ["amedeo-modigliani", "camille-corot", "gustave-courbet"])
MALFORMED = ["Impressionism/untitled.jpg", "Realism/_no-artist.jpg"]


def _style(artist: str, j: int) -> str:
    if artist == "claude-monet":  # one artist in several styles, as in ArtGAN's tree
        return "Realism" if j < 2 else "Impressionism"
    return STYLES[sorted(WORKS).index(artist) % len(STYLES)]


def _works() -> list[tuple[str, str, str]]:
    """(path, artist, style) of every well-formed work of the tree."""
    return [(f"{_style(a, j)}/{a}_painting-{j}-18{j:02d}.jpg", a, _style(a, j)) for a, n in WORKS.items()
            for j in range(n)]


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> pathlib.Path:
    root = tmp_path_factory.mktemp("wikiart")
    rng = np.random.default_rng(0)
    for path in [p for p, _, _ in _works()] + MALFORMED + ["loose-file_at-root.jpg"]:
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(jpeg_bytes(rng.integers(0, 256, (16, 20, 3), dtype=np.uint8), quality=80))
    (root / "Impressionism" / "notes.txt").write_text("not an image: ignored")
    return root


def _open(**values):
    data = data_config(source="wikiart", **values)
    return make_source(data, "train"), make_source(data, "val")


def _works_per_class(train, val) -> dict[str, int]:
    counts = np.bincount(train.labels(), minlength=len(train.class_names)) + \
        np.bincount(val.labels(), minlength=len(val.class_names))
    return dict(zip(train.class_names, counts.tolist()))


def test_top_classes_ranks_by_count_then_name():
    counts = {"b": 3, "a": 3, "c": 5, "d": 1}
    assert top_classes(counts, 2) == ["c", "a"] and top_classes(counts, 0) == ["c", "a", "b", "d"]
    assert top_classes(counts, 9) == ["c", "a", "b", "d"]


def test_tree_keeps_the_top_25_artists_with_ties_by_name_and_reports_malformed_names(tree, caplog):
    with caplog.at_level(logging.WARNING):
        train, val = _open(root=str(tree), top_classes=25, val_fraction=0.2)
    assert train.class_names == val.class_names == TOP25
    assert _works_per_class(train, val) == {a: WORKS[a] for a in TOP25}  # Monet's two styles counted together
    for name in [*MALFORMED, "loose-file_at-root.jpg"]:
        assert sum(name in message for message in caplog.messages) == 1, (name, caplog.messages)  # once
    record = catalog.class_selection(train, val)
    assert (record["task"], record["top_classes"], record["classes_in_data"], record["works_in_data"]) == (
        "artist", 25, 28, sum(WORKS.values()))
    assert [(c["name"], c["works"], c["train"] + c["val"]) for c in record["classes"]] == [
        (a, WORKS[a], WORKS[a]) for a in TOP25]
    everything = _open(root=str(tree))[0]
    assert len(everything.class_names) == 28 and catalog.class_selection(everything, everything) is None


def test_strict_stops_on_malformed_names_with_the_whole_list(tree):
    with pytest.raises(ValueError, match=r"3 malformed WikiArt entries and data.strict=True") as error:
        _open(root=str(tree), strict=True)
    assert all(name in str(error.value) for name in MALFORMED)


def test_labels_per_task(tree):
    train, val = _open(root=str(tree), task="style")
    assert train.class_names == STYLES
    label_of = {}
    for source in (train, val):
        for i in range(len(source)):
            label_of[source[i]["id"]] = source.class_names[source.labels()[i]]
    expected = {str(tree / p): s for p, _, s in _works()}
    expected[str(tree / "Realism/_no-artist.jpg")] = "Realism"  # a style needs no artist in the name
    expected[str(tree / "Impressionism/untitled.jpg")] = "Impressionism"
    assert label_of == expected
    artist = _open(root=str(tree))[0]
    monet = [artist[i]["id"] for i in range(len(artist)) if artist.class_names[artist.labels()[i]] == "claude-monet"]
    assert {pathlib.Path(p).parent.name for p in monet} == {"Impressionism", "Realism"}
    with pytest.raises(ValueError, match="hold no genre"):
        _open(root=str(tree), task="genre")


def test_split_is_stratified_seeded_and_disjoint(tree):
    train, val = _open(root=str(tree), top_classes=25, val_fraction=0.2, split_seed=1)
    ids = lambda s: {s[i]["id"] for i in range(len(s))}  # noqa: E731
    assert not ids(train) & ids(val)
    val_counts = np.bincount(val.labels(), minlength=25)
    expected = [min(max(round(0.2 * WORKS[a]), 1), WORKS[a] - 1) for a in TOP25]
    assert val_counts.tolist() == expected  # every class in both splits, in proportion
    again = _open(root=str(tree), top_classes=25, val_fraction=0.2, split_seed=1)[1]
    other = _open(root=str(tree), top_classes=25, val_fraction=0.2, split_seed=2)[1]
    assert ids(again) == ids(val) and ids(other) != ids(val)


def _artgan_files(tree: pathlib.Path, directory: pathlib.Path, task: str, github: bool) -> dict[str, str]:
    """ArtGAN's split files of `task` for the tree's works: 1 in 4 of each class for validation;
    `github` writes the repository's form (`path,,index` under a header line) with a bad line."""
    column = 1 if task == "artist" else 2
    classes = sorted({work[column] for work in _works()})
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{task}_class.txt").write_text("".join(f"{i} {name}\n" for i, name in enumerate(classes)))
    sep = ",," if github else ","
    lines = {"train": ["(Path to image),, (Groundtruth class)", ""] if github else [], "val": []}
    seen: dict[str, int] = {}
    for work in _works():
        name = work[column]
        seen[name] = seen.get(name, 0) + 1
        lines["val" if seen[name] % 4 == 0 else "train"].append(f"{work[0]}{sep}{classes.index(name)}")
    if github:
        lines["train"].insert(5, "Impressionism/claude-monet_lost.jpg,,99")
    for split, rows in lines.items():
        (directory / f"{task}_{split}.csv").write_text("\n".join(rows) + "\n")
    return {"class_file": str(directory / f"{task}_class.txt"), "train_split": str(directory / f"{task}_train.csv"),
            "val_split": str(directory / f"{task}_val.csv")}


def test_artgan_split_files_both_forms_top_classes_and_bad_lines(tree, tmp_path, caplog):
    plain = _artgan_files(tree, tmp_path / "wikiart_csv", "artist", github=False)
    train, val = _open(root=str(tree), **plain)
    assert train.class_names == sorted(WORKS) and _works_per_class(train, val) == WORKS
    assert all(val.class_names[val.labels()[i]] in val[i]["id"] for i in range(len(val)))  # labels by slug
    github = _artgan_files(tree, tmp_path / "Artist", "artist", github=True)
    with caplog.at_level(logging.WARNING):
        train, val = _open(root=str(tree), top_classes=25, **github)
    assert train.class_names == TOP25 and _works_per_class(train, val) == {a: WORKS[a] for a in TOP25}
    assert any("artist_train.csv:6: expected 'path,label_index' with index < 28" in m for m in caplog.messages)
    with pytest.raises(ValueError, match=r"artist_train.csv:6: expected"):
        _open(root=str(tree), strict=True, **github)
    style = _artgan_files(tree, tmp_path / "Style", "style", github=False)
    train, val = _open(root=str(tree), task="style", **style)
    assert train.class_names == STYLES
    with pytest.raises(ValueError, match="lists style classes but data.task is 'artist'"):
        _open(root=str(tree), **style)


def test_metadata_csv_labels_per_task_and_bad_lines(tree, tmp_path, caplog):
    genres = ["landscape", "portrait", "religious_painting"]
    rows = ["path,artist,style,genre"]
    rows += [f"{p},{a},{s},{genres[i % 3]}" for i, (p, a, s) in enumerate(_works())]
    rows.insert(3, "Realism/x_y.jpg,x,Realism,")  # no genre: skipped for the genre task
    (tmp_path / "wikiart.csv").write_text("\n".join(rows) + "\n")
    csv = dict(root=str(tree), csv=str(tmp_path / "wikiart.csv"), path_column="path")
    with caplog.at_level(logging.WARNING):
        train, val = _open(task="genre", **csv)
    assert train.class_names == genres and len(train) + len(val) == len(_works())
    assert any("wikiart.csv:4: no 'path' or 'genre' value" in m for m in caplog.messages)
    train, val = _open(task="artist", top_classes=25, **csv)
    assert train.class_names == TOP25 and _works_per_class(train, val) == {a: WORKS[a] for a in TOP25}
    assert _open(task="style", **csv)[0].class_names == STYLES
    with pytest.raises(ValueError, match=r"no column 'genres' \(data.task\)|data.task"):
        _open(task="genres", **csv)


def test_s0_smoke_runs_on_the_tree_from_the_cli(tree, tmp_path):
    workdir = tmp_path / "run"
    result = subprocess.run(
        [sys.executable, "-m", "artjax.main", "--config", str(ROOT / "experiments" / "wikiart.py") + ":smoke",
         "--config.data.source=wikiart", f"--config.data.root={tree}", "--config.model.name=resnet_mini",
         "--workdir", str(workdir)], cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "data.top_classes=25: the 25 artist classes with the most works of 28 (119 of 125 works)" in result.stdout
    assert "  vincent-van-gogh: 12 (10/2)" in result.stdout
    saved = json.loads((workdir / "class_selection.json").read_text())
    assert [c["name"] for c in saved["classes"]] == TOP25
    assert json.loads((workdir / "classes.json").read_text())["class_names"] == TOP25
    evals = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
    assert [e["epoch"] for e in evals if e["split"] == "val"] == [1, 2]
    index = (workdir / "report" / "index.html").read_text()
    assert "classes (top 25 of 28 by works)" in index and "vincent-van-gogh 12 (10/2)" in index


def test_the_data_scan_names_the_kept_classes(tree):
    result = subprocess.run([sys.executable, "-m", "artjax.data", "--config", str(ROOT / "experiments" / "wikiart.py"),
                             "--config.data.source=wikiart", f"--config.data.root={tree}"],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert "data.top_classes=25: the 25 artist classes with the most works of 28" in result.stdout, result.stderr[-2000:]
    assert "  vincent-van-gogh: 12 (10/2)" in result.stdout
