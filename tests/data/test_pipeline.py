"""The grain pipeline: bad files reported once, strict mode, worker-count invariance, exact
iterator resume and padded evaluation batches."""

import numpy as np
import pytest
from absl import flags
from images import data_config, flat_image, write_png, write_zoo

from artjax.data import catalog, pipeline
from artjax.data.augment import make_transform
from artjax.data.painters import PaintersSource
from artjax.data.sources import make_source

RESIZE = make_transform("none", image_size=16, train=False)
FLIP = make_transform("flip", image_size=16, train=True)
OPTIONS = pipeline.PipelineOptions(errors=catalog.READ_ERRORS)


def _mixed_folder(tmp_path):
    zoo = write_zoo(tmp_path / "odd")
    for i in range(4):
        write_png(tmp_path / "plain" / f"{i}.png", flat_image(10 * i))
    data = data_config(source="folder", root=str(tmp_path), val_root=str(tmp_path))
    return make_source(data, "train"), zoo


def _epoch(source, epoch, bad, batch_size=1, options=OPTIONS, transform=RESIZE):
    return list(pipeline.train_batches(source, epoch=epoch, batch_size=batch_size, transform=transform, seed=0,
                                       bad=bad, options=options))


def test_bad_files_are_skipped_and_reported_once(tmp_path, caplog):
    source, zoo = _mixed_folder(tmp_path)
    bad = pipeline.BadRecords()
    with caplog.at_level("WARNING"):
        batches = _epoch(source, 0, bad) + _epoch(source, 1, bad)
    bad_names = sorted(name for name in zoo if name.startswith("bad_"))
    assert len(bad.reasons) == len(bad_names) == 3
    for name in bad_names:
        assert sum(str(zoo[name]) in reason for reason in bad.reasons.values()) == 1
    warnings = [r.getMessage() for r in caplog.records if "unreadable" in r.getMessage()]
    assert len(warnings) == 3  # two epochs, yet one warning per file
    assert len(batches) == 2 * 2 * (len(source) - 3)  # 2 epochs, each reading its shard twice over
    assert all(b["image"].shape == (1, 16, 16, 3) and b["image"].dtype == np.uint8 for b in batches)


def test_strict_stops_at_the_first_bad_file(tmp_path):
    source, _ = _mixed_folder(tmp_path)
    with pytest.raises(pipeline.UnreadableImages, match="bad_"):
        _epoch(source, 0, pipeline.BadRecords(strict=True))


def test_same_seed_same_batches_whatever_the_worker_count():
    flags.FLAGS.mark_as_parsed()  # grain's worker processes read absl flags
    source = PaintersSource(split="train", num_examples=24, min_size=24, max_size=40)
    runs = []
    for workers in (0, 2):
        options = pipeline.PipelineOptions(workers=workers, errors=catalog.READ_ERRORS)
        runs.append(_epoch(source, 3, pipeline.BadRecords(), batch_size=4, options=options, transform=FLIP))
    assert len(runs[0]) == 12
    for a, b in zip(*runs):
        np.testing.assert_array_equal(a["image"], b["image"])
        np.testing.assert_array_equal(a["label"], b["label"])
    other_epoch = _epoch(source, 4, pipeline.BadRecords(), batch_size=4, transform=FLIP)
    assert not np.array_equal(runs[0][0]["label"], other_epoch[0]["label"]) or not np.array_equal(
        runs[0][0]["image"], other_epoch[0]["image"])


def test_processes_read_their_slices_of_the_one_process_batches():
    """Two processes' batches of 3, side by side, are one process's batches of 6: the same
    records in the same order with the same flips (a record's randomness is its own)."""
    source = PaintersSource(split="train", num_examples=20, min_size=24, max_size=40)
    one = _epoch(source, 1, pipeline.BadRecords(), batch_size=6, transform=FLIP)[:3]  # 20 // 6 steps
    shards = [list(pipeline.train_batches(source, epoch=1, batch_size=3, transform=FLIP, seed=0,
                                          bad=pipeline.BadRecords(), options=OPTIONS, process_index=p,
                                          process_count=2))[:3] for p in range(2)]
    for step, batch in enumerate(one):
        for key in ("image", "label"):
            np.testing.assert_array_equal(batch[key], np.concatenate([shards[0][step][key], shards[1][step][key]]))
    positions = [pipeline.process_positions(20, 6, p, 2) for p in range(2)]
    assert sorted(np.concatenate(positions)) == list(range(20))  # disjoint, and every record read once


def test_iterator_state_resumes_exactly():
    source = PaintersSource(split="train", num_examples=20, min_size=24, max_size=40)
    make = lambda: pipeline.train_batches(source, epoch=0, batch_size=4, transform=FLIP, seed=1,  # noqa: E731
                                          bad=pipeline.BadRecords(), options=OPTIONS)
    full = list(make())
    it = make()
    next(it), next(it)
    state = it.get_state()
    resumed = make()
    resumed.set_state(state)
    rest = list(resumed)
    assert len(rest) == 8
    for a, b in zip(full[2:], rest):
        np.testing.assert_array_equal(a["image"], b["image"])


def test_eval_batches_pad_the_last_batch_with_a_mask():
    source = PaintersSource(split="val", num_examples=10, min_size=24, max_size=40)
    batches = list(pipeline.eval_batches(source, batch_size=4, transform=RESIZE, bad=pipeline.BadRecords(),
                                         options=OPTIONS))
    assert [b["mask"].tolist() for b in batches] == [[1] * 4, [1] * 4, [1, 1, 0, 0]]
    labels = np.concatenate([b["label"][b["mask"] > 0] for b in batches])
    np.testing.assert_array_equal(labels, source.labels())
    shards = [list(pipeline.eval_batches(source, batch_size=4, transform=RESIZE, bad=pipeline.BadRecords(),
                                         options=OPTIONS, process_index=p, process_count=3)) for p in range(3)]
    assert [len(s) for s in shards] == [1, 1, 1]  # equal counts across processes, padded
    assert sum(int(s[0]["mask"].sum()) for s in shards) == 10
