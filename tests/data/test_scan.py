"""scan_source / format_report on a folder mixing valid, odd and broken images."""

import numpy as np
import pytest
from images import data_config, flat_image, write_png, write_zoo

from artjax.data.scan import format_report, scan_source
from artjax.data.sources import ArraySource, make_source


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    root = tmp_path_factory.mktemp("scan")
    zoo = write_zoo(root / "odd")
    write_png(root / "plain" / "a.png", flat_image(5, height=40, width=30))
    write_png(root / "plain" / "b.png", flat_image(6, height=10, width=50))
    data = data_config(source="folder", root=str(root), val_root=str(root), max_pixels=10_000)
    return make_source(data, "train"), zoo


@pytest.mark.parametrize("threads", [1, 2])
def test_scan_counts_sizes_and_bad_files(mixed, threads):
    source, zoo = mixed
    report = scan_source(source, threads=threads)
    assert report.class_names == ["odd", "plain"] and report.class_counts == [len(zoo), 2]
    assert report.num_records == len(zoo) + 2
    bad = {name for name in zoo if name.startswith("bad_")}
    assert sorted(i for i, _ in report.bad) == sorted(str(zoo[n]) for n in bad)
    assert all(reason.startswith(path) for path, reason in report.bad)
    assert len(report.widths) == len(report.heights) == len(zoo) - len(bad) + 2
    assert report.widths.min() == 1 and report.widths.max() == 50  # the 1x1 image and the 50-wide one
    assert report.heights.max() == 40


def test_format_report_lists_every_bad_file(mixed):
    source, zoo = mixed
    text = format_report(scan_source(source))
    assert f"{len(zoo) + 2} records, 2 classes" in text
    assert "unreadable files: 3" in text
    for name in ("bad_truncated.jpg", "bad_empty.jpg", "bad_text.jpg"):
        assert sum(str(zoo[name]) in line for line in text.splitlines()) == 1
    assert "width   1 / " in text and " / 50" in text


def test_report_of_arrays_and_of_nothing_readable():
    source = ArraySource(np.zeros((3, 4, 6, 3), np.uint8), np.array([0, 2, 2]))
    report = scan_source(source)
    assert report.class_counts == [1, 0, 2] and report.widths.tolist() == [6, 6, 6] and report.bad == []
    empty = ArraySource(np.zeros((2, 4, 4, 3), np.float32), np.array([0, 0]))  # not uint8: unreadable
    text = format_report(scan_source(empty))
    assert "no readable images" in text and "unreadable files: 2" in text
