"""The decoded-image cache: built once and then read instead of the originals, bounded in size,
refreshed when a file changes, safe for unreadable files; and its config keys."""

import os

import numpy as np
import pytest
from images import data_config, quadrant_means, upright_pattern, write_png, write_zoo
from PIL import Image

from artjax.config import ConfigError, defaults, validate
from artjax.data import cache, scan
from artjax.data.decode import DecodeError
from artjax.data.sources import DecodeOptions, make_source

SHORT = 16


def _big_image(value: int) -> np.ndarray:
    """A 40x64 image: tall quadrants of known colours on a flat `value` background."""
    image = np.full((40, 64, 3), value, np.uint8)
    image[:20, :32] = (220, 30, 30)
    return image


def _source(root, cache_dir):
    data = data_config(source="folder", root=str(root), val_root=str(root), cache_dir=str(cache_dir),
                       cache_short_side=SHORT)
    return make_source(data, "train")


def _entries(cache_dir):
    return sorted(p for p in cache_dir.rglob("*.jpg"))


def test_first_read_fills_the_cache_later_reads_skip_the_original(tmp_path):
    original = write_png(tmp_path / "photos" / "a" / "big.png", _big_image(90))
    source = _source(tmp_path / "photos", tmp_path / "cache")
    first = source.read(0)["image"]
    assert first.shape == (SHORT, 26, 3)  # 40x64 shrunk to short side 16, aspect kept
    assert len(_entries(tmp_path / "cache")) == 1
    # Same size and time stamp, but garbage inside: only a cache hit can still produce pixels.
    stat = os.stat(original)
    original.write_bytes(b"\0" * stat.st_size)
    os.utime(original, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    again = source.read(0)["image"]
    np.testing.assert_allclose(again.astype(float), first.astype(float), atol=3)  # JPEG q95
    np.testing.assert_allclose(quadrant_means(again)[0], (220, 30, 30), atol=6)


def test_cached_images_are_bounded_upright_and_small_ones_not_enlarged(tmp_path):
    zoo = write_zoo(tmp_path / "photos" / "odd")
    write_png(tmp_path / "photos" / "big" / "big.png", _big_image(90))
    source = _source(tmp_path / "photos", tmp_path / "cache")
    ids = [source[i]["id"] for i in range(len(source))]
    for i in range(len(source)):
        if "bad_" not in ids[i]:
            image = source.read(i)["image"]
            assert min(image.shape[:2]) <= SHORT
    exif = source.read(ids.index(str(zoo["exif_rotated.jpg"])))["image"]
    assert exif.shape == (32, 16, 3)  # upright 32x16: short side already 16
    np.testing.assert_allclose(quadrant_means(exif), quadrant_means(upright_pattern()), atol=12)
    one = source.read(ids.index(str(zoo["one_pixel.png"])))["image"]
    assert one.shape == (1, 1, 3)


def test_a_modified_file_is_decoded_again(tmp_path):
    original = write_png(tmp_path / "photos" / "a" / "img.png", _big_image(90))
    source = _source(tmp_path / "photos", tmp_path / "cache")
    assert abs(int(source.read(0)["image"][-1, -1, 0]) - 90) <= 2
    write_png(original, _big_image(200))
    stat = os.stat(original)
    os.utime(original, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))  # a later edit
    assert abs(int(source.read(0)["image"][-1, -1, 0]) - 200) <= 2
    assert len(_entries(tmp_path / "cache")) == 2  # a new key; the stale entry is never read again


def test_bad_files_still_raise_naming_the_original_and_are_not_cached(tmp_path):
    zoo = write_zoo(tmp_path / "photos" / "odd")
    source = _source(tmp_path / "photos", tmp_path / "cache")
    report = scan.scan_source(source, threads=2)  # the scan command fills the cache as it goes
    bad = sorted(str(path) for name, path in zoo.items() if name.startswith("bad_"))
    assert sorted(record_id for record_id, _ in report.bad) == bad
    assert all(reason.startswith(record_id) for record_id, reason in report.bad)
    assert len(_entries(tmp_path / "cache")) == len(zoo) - len(bad)
    missing = str(tmp_path / "photos" / "odd" / "gone.jpg")
    with pytest.raises(DecodeError, match="gone.jpg"):
        cache.cached_decode(missing, cache_dir=str(tmp_path / "cache"), short_side=SHORT, max_pixels=10**8)


def test_a_damaged_entry_is_replaced_from_the_original(tmp_path):
    write_png(tmp_path / "photos" / "a" / "img.png", _big_image(90))
    source = _source(tmp_path / "photos", tmp_path / "cache")
    source.read(0)
    (entry,) = _entries(tmp_path / "cache")
    entry.write_bytes(b"half a jpeg")
    assert source.read(0)["image"].shape == (SHORT, 26, 3)
    assert Image.open(entry).size == (26, SHORT)  # rewritten whole


def test_config_keys():
    config = defaults()
    assert config.data.cache_dir == "" and DecodeOptions.from_config(config.data).cache_dir == ""
    config.data.cache_dir, config.data.cache_short_side = "/tmp/c", 256
    options = DecodeOptions.from_config(config.data)
    assert (options.cache_dir, options.cache_short_side) == ("/tmp/c", 256)
    config.data.cache_short_side = 0
    with pytest.raises(ConfigError, match="data.cache_short_side"):
        validate(config)
