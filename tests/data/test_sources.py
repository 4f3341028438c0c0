"""Sources: folder, CSV, ArtGAN WikiArt, TFDS (a tiny ArrayRecord dataset written here) and arrays;
and every source type opened from an experiment's config, as the CLI opens it."""

import pathlib
import pickle

import numpy as np
import pytest
from PIL import Image
from images import (
    PAINTERS,
    data_config,
    encode,
    flat_image,
    painter_image,
    painter_png,
    painter_rows,
    quadrant_means,
    upright_pattern,
    write_painters,
    write_png,
    write_tfds,
    write_zoo,
)

from artjax.config import load_config, validate
from artjax.data import catalog
from artjax.data.decode import DecodeError
from artjax.data.sources import ArraySource, Subset, make_source, register_source

QUICKSTART = str(pathlib.Path(__file__).parents[2] / "experiments" / "quickstart.py") + ":smoke"


def _config(**overrides):
    """The schema's `data` section (config/defaults.py) for a folder source, with `overrides`."""
    return data_config(**{"source": "folder", "val_fraction": 0.25, "max_pixels": 10_000_000, **overrides})


def _values(source):
    """The flat grey level of every record, in order (the test images encode their identity)."""
    return [int(source.read(i)["image"][0, 0, 0]) for i in range(len(source))]


# ------------------------------------------------------------------ folder

@pytest.fixture
def folders(tmp_path):
    train, val = tmp_path / "train", tmp_path / "val"
    for cls, values in {"monet": [10, 11, 12, 13], "degas": [20, 21, 22, 23], "cezanne": [30, 31]}.items():
        for v in values[:-1]:
            write_png(train / cls / f"{v}.png", flat_image(v))
        write_png(train / cls / "nested" / f"{values[-1]}.png", flat_image(values[-1]))  # subfolders count
    (train / "monet" / "notes.txt").write_text("not an image extension: ignored")
    (train / ".hidden").mkdir()
    write_png(val / "degas" / "40.png", flat_image(40))
    write_png(val / "monet" / "50.png", flat_image(50))
    return train, val


def test_folder_classes_labels_and_records(folders):
    train, val = folders
    source = make_source(_config(root=str(train), val_root=str(val)), "train")
    assert source.class_names == ["cezanne", "degas", "monet"]
    assert source.labels().dtype == np.int32
    assert list(source.labels()) == [0, 0, 1, 1, 1, 1, 2, 2, 2, 2]
    assert _values(source) == [30, 31, 20, 21, 22, 23, 10, 11, 12, 13]
    record = source[0]
    assert record["image"] == str(train / "cezanne" / "30.png") and record["id"] == record["image"]
    assert len(pickle.dumps(record)) < 300  # a path, not pixels
    decoded = pickle.loads(pickle.dumps(source)).read(0)
    assert decoded["image"].shape == (6, 5, 3) and decoded["label"] == 0
    validation = make_source(_config(root=str(train), val_root=str(val)), "val")
    assert validation.class_names == source.class_names
    assert list(validation.labels()) == [1, 2] and _values(validation) == [40, 50]


def test_folder_without_validation_root_is_split_stratified(folders):
    train_dir, _ = folders
    config = _config(root=str(train_dir), val_fraction=0.25, split_seed=3)
    train, val = make_source(config, "train"), make_source(config, "val")
    assert isinstance(train, Subset) and isinstance(val, Subset)
    assert sorted(_values(train) + _values(val)) == sorted([10, 11, 12, 13, 20, 21, 22, 23, 30, 31])
    assert np.bincount(val.labels(), minlength=3).tolist() == [1, 1, 1]
    again = make_source(config, "val")
    assert _values(again) == _values(val)


def test_folder_errors_name_the_path(tmp_path, folders):
    train, _ = folders
    with pytest.raises(FileNotFoundError, match="nowhere"):
        make_source(_config(root=str(tmp_path / "nowhere")), "train")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no class subfolders"):
        make_source(_config(root=str(tmp_path / "empty")), "train")
    (train / "renoir").mkdir()
    with pytest.raises(ValueError, match=r"\['renoir'\].*hold no images"):
        make_source(_config(root=str(train)), "train")
    (train / "renoir").rmdir()
    write_png(tmp_path / "val2" / "turner" / "1.png", flat_image(1))
    with pytest.raises(ValueError, match="turner"):
        make_source(_config(root=str(train), val_root=str(tmp_path / "val2")), "val")
    with pytest.raises(ValueError, match="data.root is empty"):
        make_source(_config(root=""), "train")


def _read_or_error(source, index):
    try:
        return source.read(index)
    except DecodeError as error:
        return error


def test_unreadable_files_raise_decode_errors_naming_them(tmp_path):
    root = tmp_path / "mixed"
    zoo = write_zoo(root / "odd")
    write_png(root / "plain" / "a.png", flat_image(5))
    source = make_source(_config(root=str(root), val_root=str(root)), "train")
    ids = [source[i]["id"] for i in range(len(source))]
    bad = {i for i, path in enumerate(ids) if "bad_" in path}
    assert len(bad) == 3
    results = [_read_or_error(source, i) for i in range(len(source))]
    assert {i for i, r in enumerate(results) if isinstance(r, DecodeError)} == bad
    assert all(ids[i] in str(results[i]) for i in bad)  # each error names its file
    upright = results[ids.index(str(zoo["exif_rotated.jpg"]))]["image"]
    np.testing.assert_allclose(quadrant_means(upright), quadrant_means(upright_pattern()), atol=15)


def test_missing_file_is_a_decode_error_at_read(folders):
    train, val = folders
    source = make_source(_config(root=str(train), val_root=str(val)), "train")
    (train / "cezanne" / "30.png").unlink()
    with pytest.raises(DecodeError, match="30.png"):
        source.read(0)
    assert source.read(1)["image"].shape[2] == 3
    with pytest.raises(IndexError):
        source[len(source)]


def test_pixel_limit_comes_from_the_config(folders):
    train, val = folders
    source = make_source(_config(root=str(train), val_root=str(val), max_pixels=29), "train")  # images are 30 px
    with pytest.raises(DecodeError):
        source.read(0)


# ------------------------------------------------------------------ CSV manifests

def _write_csv(path, rows, header=("id", "img_path", "artist")):
    path.write_text("\n".join([",".join(header)] + [",".join(map(str, r)) for r in rows]) + "\n")
    return path


@pytest.fixture
def manifest(tmp_path):
    for v in (1, 2, 3, 4, 5, 6):
        write_png(tmp_path / "train" / f"{v}.png", flat_image(v))
    rows = [(0, "./train/1.png", "Monet"), (1, "./train/2.png", "Degas"), (2, "./train/3.png", "Monet"),
            (3, "./train/4.png", "Degas"), (4, "./train/5.png", "Monet"), (5, "./train/6.png", "Degas")]
    return tmp_path, _write_csv(tmp_path / "train.csv", rows)


def test_csv_source_reads_columns_relative_to_root(manifest):
    root, csv_path = manifest
    source = make_source(_config(source="csv", csv=str(csv_path), root=str(root), val_csv=str(csv_path)), "train")
    assert source.class_names == ["Degas", "Monet"]
    assert list(source.labels()) == [1, 0, 1, 0, 1, 0]
    assert _values(source) == [1, 2, 3, 4, 5, 6]
    alone = make_source(_config(source="csv", csv=str(csv_path), val_csv=str(csv_path)), "train")  # root: CSV folder
    assert _values(alone) == _values(source)


def test_csv_holdout_and_validation_manifest(manifest):
    root, csv_path = manifest
    config = _config(source="csv", csv=str(csv_path), root=str(root), val_fraction=0.34)
    assert sorted(_values(make_source(config, "train")) + _values(make_source(config, "val"))) == [1, 2, 3, 4, 5, 6]
    val_csv = _write_csv(root / "val.csv", [(9, "train/2.png", "Monet")])
    val = make_source(_config(source="csv", csv=str(csv_path), root=str(root), val_csv=str(val_csv)), "val")
    assert val.class_names == ["Degas", "Monet"] and list(val.labels()) == [1]


def test_csv_errors_name_file_column_and_line(manifest):
    root, csv_path = manifest
    bad_val = _write_csv(root / "val.csv", [(0, "train/1.png", "Monet"), (1, "train/2.png", "Turner")])
    with pytest.raises(ValueError, match=r"val.csv:3: label 'Turner'"):
        make_source(_config(source="csv", csv=str(csv_path), root=str(root), val_csv=str(bad_val)), "val")
    with pytest.raises(ValueError, match=r"no column 'painter' \(data.label_column\)"):
        make_source(_config(source="csv", csv=str(csv_path), label_column="painter"), "train")
    with pytest.raises(FileNotFoundError, match="missing.csv"):
        make_source(_config(source="csv", csv=str(root / "missing.csv")), "train")
    blank = _write_csv(root / "blank.csv", [(0, "train/1.png", "")])
    with pytest.raises(ValueError, match=r"blank.csv:2: missing"):
        make_source(_config(source="csv", csv=str(blank)), "train")


def test_csv_class_file_fixes_order_and_numeric_labels_sort_numerically(manifest):
    root, _ = manifest
    classes = root / "classes.txt"
    classes.write_text("Monet\nDegas\nRenoir\n")
    csv_path = _write_csv(root / "named.csv", [(0, "train/1.png", "Degas"), (1, "train/2.png", "Monet")])
    source = make_source(_config(source="csv", csv=str(csv_path), class_file=str(classes), val_csv=str(csv_path)),
                         "train")
    assert source.class_names == ["Monet", "Degas", "Renoir"] and list(source.labels()) == [1, 0]
    numeric = _write_csv(root / "numeric.csv", [(i, "train/1.png", lab) for i, lab in enumerate([10, 2, 1])])
    source = make_source(_config(source="csv", csv=str(numeric), val_csv=str(numeric)), "train")
    assert source.class_names == ["1", "2", "10"] and list(source.labels()) == [2, 1, 0]


# ------------------------------------------------------------------ ArtGAN WikiArt

@pytest.fixture
def wikiart(tmp_path):
    root = tmp_path / "wikiart"
    for i, style in enumerate(["Impressionism", "Baroque"]):
        for j in range(3):
            write_png(root / style / f"painter-{i}_work-{j}.jpg", flat_image(10 * i + j))
    (tmp_path / "artist_class.txt").write_text("0 Claude_Monet\n1 Rembrandt\n")
    lines = [f"Impressionism/painter-0_work-{j}.jpg,0" for j in range(3)] + \
            [f"Baroque/painter-1_work-{j}.jpg,1" for j in range(2)]
    (tmp_path / "artist_train.csv").write_text("\n".join(lines) + "\n")
    (tmp_path / "artist_val.csv").write_text("Baroque/painter-1_work-2.jpg,1\n")
    return tmp_path


def test_wikiart_split_files(wikiart):
    config = _config(source="wikiart", root=str(wikiart / "wikiart"), class_file=str(wikiart / "artist_class.txt"),
                     train_split=str(wikiart / "artist_train.csv"), val_split=str(wikiart / "artist_val.csv"))
    train, val = make_source(config, "train"), make_source(config, "val")
    assert train.class_names == val.class_names == ["Claude_Monet", "Rembrandt"]
    assert list(train.labels()) == [0, 0, 0, 1, 1] and _values(train) == [0, 1, 2, 10, 11]
    assert list(val.labels()) == [1] and _values(val) == [12]


def test_wikiart_skips_bad_lines_and_requires_class_file(wikiart):
    # A malformed line is skipped and reported, as an unreadable image is; strict stops on it.
    (wikiart / "bad.csv").write_text("Baroque/painter-1_work-2.jpg,7\nBaroque/painter-1_work-1.jpg,1\n")
    config = _config(source="wikiart", root=str(wikiart / "wikiart"), class_file=str(wikiart / "artist_class.txt"),
                     train_split=str(wikiart / "bad.csv"), val_split=str(wikiart / "artist_val.csv"))
    assert _values(make_source(config, "train")) == [11]
    config.strict = True
    with pytest.raises(ValueError, match=r"bad.csv:1: expected 'path,label_index' with index < 2"):
        make_source(config, "train")
    with pytest.raises(ValueError, match="data.class_file is empty"):
        make_source(_config(source="wikiart", root=str(wikiart), train_split=str(wikiart / "bad.csv")), "train")
    (wikiart / "gappy.txt").write_text("0 A\n2 B\n")
    with pytest.raises(ValueError, match="indices must be 0..1"):
        make_source(_config(source="wikiart", root=str(wikiart), class_file=str(wikiart / "gappy.txt"),
                            train_split=str(wikiart / "bad.csv")), "train")


# ------------------------------------------------------------------ TFDS (ArrayRecord, no TensorFlow)

@pytest.fixture(scope="module")
def tfds_dir(tmp_path_factory):
    """A 2-class dataset in ArrayRecord format: 8 train, 2 test examples."""
    def rows(start, n):
        return [(i, encode(Image.fromarray(flat_image(i, 4, 3 + i % 3)), "PNG"), i % 2) for i in range(start, start + n)]

    data_dir = tmp_path_factory.mktemp("tfds")
    write_tfds(data_dir, "ArtjaxTinyPaintings", ["cat", "dog"], {"train": rows(0, 8), "test": rows(100, 2)})
    return str(data_dir)


def test_tfds_train_and_test_splits(tfds_dir):
    config = _config(source="tfds", tfds_name="artjax_tiny_paintings", tfds_dir=tfds_dir, tfds_val_split="test")
    train, val = make_source(config, "train"), make_source(config, "val")
    assert train.class_names == ["cat", "dog"] and len(train) == 8 and len(val) == 2
    assert np.bincount(train.labels()).tolist() == [4, 4]
    assert sorted(_values(train)) == list(range(8)) and sorted(_values(val)) == [100, 101]
    index = _values(train).index(5)
    assert isinstance(train[index]["image"], bytes) and train.labels()[index] == 1
    assert train.read(index)["image"].shape == (4, 3 + 5 % 3, 3)
    copy = pickle.loads(pickle.dumps(train))  # a worker reopens the reader
    np.testing.assert_array_equal(copy.read(index)["image"], train.read(index)["image"])


def test_tfds_holdout_and_missing_dataset(tfds_dir):
    config = _config(source="tfds", tfds_name="artjax_tiny_paintings", tfds_dir=tfds_dir, val_fraction=0.25)
    train, val = make_source(config, "train"), make_source(config, "val")
    assert len(train) == 6 and len(val) == 2 and sorted(val.labels().tolist()) == [0, 1]
    with pytest.raises(FileNotFoundError, match="no TFDS dataset 'no_such_thing_xyz'"):
        make_source(_config(source="tfds", tfds_name="no_such_thing_xyz", tfds_dir=tfds_dir), "train")
    with pytest.raises(ValueError, match="split 'validation'"):
        make_source(_config(source="tfds", tfds_name="artjax_tiny_paintings", tfds_dir=tfds_dir,
                            tfds_val_split="validation"), "val")


# ------------------------------------------------------------------ arrays

def _cifar_like(n, seed):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 8, 8, 3), dtype=np.uint8), rng.integers(0, 3, (n, 1))


def test_npz_arrays_load_lazily_and_pickle_light(tmp_path):
    x_train, y_train = _cifar_like(12, 0)
    x_test, y_test = _cifar_like(4, 1)
    path = tmp_path / "cifar.npz"
    np.savez(path, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test,
             class_names=np.array(["plane", "car", "bird"]))
    config = _config(source="arrays", arrays=str(path))
    train, val = make_source(config, "train"), make_source(config, "val")
    assert train.class_names == ["plane", "car", "bird"] and val.class_names == train.class_names
    assert list(train.labels()) == list(y_train[:, 0]) and list(val.labels()) == list(y_test[:, 0])
    assert len(pickle.dumps(train)) < x_train.nbytes  # the path travels, not the pixels
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(train)).read(3)["image"], x_train[3])
    np.testing.assert_array_equal(val.read(2)["image"], x_test[2])


def test_npz_without_test_part_is_held_out_and_bad_npz_is_named(tmp_path):
    x_train, y_train = _cifar_like(12, 0)
    np.savez(tmp_path / "only_train.npz", x_train=x_train, y_train=y_train)
    config = _config(source="arrays", arrays=str(tmp_path / "only_train.npz"), val_fraction=0.25)
    train, val = make_source(config, "train"), make_source(config, "val")
    assert len(train) + len(val) == 12 and train.class_names == ["0", "1", "2"]
    np.savez(tmp_path / "no_labels.npz", x_train=x_train)
    with pytest.raises(ValueError, match=r"lacks \['y_train'\]"):
        make_source(_config(source="arrays", arrays=str(tmp_path / "no_labels.npz")), "train")


def test_in_memory_arrays_grayscale_and_alpha_become_rgb():
    gray = np.arange(2 * 4 * 4, dtype=np.uint8).reshape(2, 4, 4)
    arrays = {"x_train": gray, "y_train": np.array([0, 1]), "x_test": gray[:1], "y_test": np.array([1])}
    config = _config(source="arrays")
    train = make_source(config, "train", arrays=arrays)
    image = train.read(1)["image"]
    assert image.shape == (4, 4, 3) and (image[..., 0] == gray[1]).all() and (image[..., 2] == gray[1]).all()
    assert make_source(config, "val", arrays=arrays).labels().tolist() == [1]
    rgba = ArraySource(np.zeros((1, 2, 2, 4), np.uint8), np.array([0]))
    assert rgba.read(0)["image"].shape == (2, 2, 3)
    with pytest.raises(ValueError, match="non-negative integers"):
        ArraySource(np.zeros((2, 2, 2, 3), np.uint8), np.array([0.5, 1.0]))
    with pytest.raises(ValueError, match="need data.source='arrays'"):
        make_source(_config(source="folder"), "train", arrays=arrays)


# ------------------------------------------------------------------ every source type from the experiment config

@pytest.fixture(scope="module")
def collections(tmp_path_factory):
    """Per source type, the data overrides (the CLI's --config.data.* flags) that open the painter
    collection of images.py in that type's layout."""
    base = tmp_path_factory.mktemp("collections")
    folder = write_painters(base / "folder")
    train, val = painter_rows("train"), painter_rows("val")
    (base / "train.csv").write_text("img_path,artist\n" + "".join(f"{path},{PAINTERS[label]}\n"
                                                                   for path, label in train + val))
    (base / "artist_class.txt").write_text("".join(f"{i} {name}\n" for i, name in enumerate(PAINTERS)))
    for split, rows in (("train", train), ("val", val)):
        (base / f"artist_{split}.csv").write_text("".join(f"{path},{label}\n" for path, label in rows))
    write_tfds(base / "tfds", "ArtjaxSourcePaintings", PAINTERS,
               {split: [(path, painter_png(path, label), label) for path, label in rows]
                for split, rows in (("train", train), ("test", val))})

    def arrays(rows):
        return np.stack([painter_image(label, int(pathlib.Path(path).stem)) for path, label in rows]), \
            np.array([label for _, label in rows])

    (x_train, y_train), (x_test, y_test) = arrays(train), arrays(val)
    np.savez(base / "paintings.npz", x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test,
             class_names=np.array(PAINTERS))
    return {
        "folder": dict(source="folder", root=str(folder)),
        "csv": dict(source="csv", csv=str(base / "train.csv"), root=str(folder)),
        "wikiart": dict(source="wikiart", root=str(folder), class_file=str(base / "artist_class.txt"),
                        train_split=str(base / "artist_train.csv"), val_split=str(base / "artist_val.csv")),
        "tfds": dict(source="tfds", tfds_name="artjax_source_paintings", tfds_dir=str(base / "tfds"),
                     tfds_val_split="test"),
        "arrays": dict(source="arrays", arrays=str(base / "paintings.npz")),
    }


@pytest.mark.parametrize("kind", ["folder", "csv", "wikiart", "tfds", "arrays"])
def test_every_source_type_opens_from_the_experiment_config(collections, kind):
    # As `python -m artjax.main --config experiments/quickstart.py:smoke --config.data.source=...`:
    # the experiment's full config, overridden, validated, then the catalog.
    config = load_config(QUICKSTART)
    config.data.update(collections[kind])
    validate(config)
    train, val = catalog.open_sources(config.data)
    assert train.class_names == val.class_names == PAINTERS
    # Folder and csv hold 8 per painter out, stratified: 20 % (data.val_fraction) of 8 is 2.
    assert np.bincount(train.labels()).tolist() == [6, 6, 6] and np.bincount(val.labels()).tolist() == [2, 2, 2]
    for source in (train, val):
        for i in range(len(source)):
            record = source.read(i)
            assert record["image"].shape == (40, 40, 3)
            assert np.argmax(record["image"].reshape(-1, 3).mean(axis=0)) == record["label"]  # colour = painter


# ------------------------------------------------------------------ factory

def test_registered_source_and_unknown_names():
    made = []
    register_source("unit_test_source", lambda data, split: made.append(split) or ArraySource(
        np.zeros((1, 2, 2, 3), np.uint8), np.array([0])))
    assert len(make_source(_config(source="unit_test_source"), "val")) == 1 and made == ["val"]
    with pytest.raises(ValueError, match="unknown source 'nope'"):
        make_source(_config(source="nope"), "train")
    with pytest.raises(ValueError, match="split must be one of"):
        make_source(_config(), "test")
