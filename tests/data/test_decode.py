"""decode_image: every odd-but-valid format becomes upright RGB uint8; broken files name themselves."""

import cv2
import numpy as np
import pytest
from images import BLUE, RED, encode, jpeg_bytes, quadrant_means, upright_pattern, write_zoo, zoo_bytes
from PIL import Image

from artjax.data.decode import DecodeError, ImageTooLarge, decode_image

LIMIT = 10_000_000
WHITE = (255, 255, 255)


@pytest.fixture(scope="module")
def zoo(tmp_path_factory):
    return write_zoo(tmp_path_factory.mktemp("zoo"))


def _decode(path):
    image = decode_image(path, max_pixels=LIMIT)
    assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
    return image


def test_rgb_png_is_exact_and_jpeg_close(zoo):
    np.testing.assert_array_equal(_decode(zoo["rgb.png"]), upright_pattern())
    jpeg = _decode(zoo["rgb.jpg"])
    assert jpeg.shape == (32, 16, 3)
    np.testing.assert_allclose(quadrant_means(jpeg), quadrant_means(upright_pattern()), atol=12)


def test_bytes_and_path_decode_alike(zoo):
    np.testing.assert_array_equal(decode_image(zoo["rgb.jpg"].read_bytes(), max_pixels=LIMIT), _decode(zoo["rgb.jpg"]))


def test_exif_orientation_is_applied(zoo):
    image = _decode(zoo["exif_rotated.jpg"])
    assert image.shape == (32, 16, 3)  # stored 16 high x 32 wide
    means = quadrant_means(image)
    np.testing.assert_allclose(means[0], RED, atol=15)  # red top-left, as drawn
    for quadrant in means[1:]:
        np.testing.assert_allclose(quadrant, BLUE, atol=15)


def test_grayscale_and_bilevel_replicate_to_three_channels(zoo):
    np.testing.assert_array_equal(_decode(zoo["gray.png"]), np.full((5, 7, 3), 100, np.uint8))
    bits = _decode(zoo["bilevel.png"])
    assert (bits[:, :4] == 0).all() and (bits[:, 4:] == 255).all()


def test_transparency_is_composited_on_white(zoo):
    rgba = _decode(zoo["rgba.png"])
    assert (rgba[:, :3] == RED).all() and (rgba[:, 3:] == WHITE).all()
    palette = _decode(zoo["palette_transparent.png"])
    assert (palette[:, :3] == RED).all() and (palette[:, 3:] == WHITE).all()


def test_half_transparent_pixel_blends_with_white():
    pixel = np.array([[[0, 0, 0, 128]]], np.uint8)
    out = decode_image(encode(Image.fromarray(pixel, "RGBA"), "PNG"), max_pixels=LIMIT)
    assert abs(int(out[0, 0, 0]) - 127) <= 1


def test_cmyk_becomes_rgb(zoo):
    np.testing.assert_allclose(_decode(zoo["cmyk.jpg"]).reshape(-1, 3).mean(0), (255, 0, 0), atol=6)


def test_16_bit_png_scales_to_8_bit(zoo):
    grey = _decode(zoo["gray16.png"])
    np.testing.assert_array_equal(grey[0, :, 0], [0, 1, 128, 255])
    assert (grey[..., 0] == grey[..., 2]).all()


def test_16_bit_rgb_png_scales_to_8_bit():
    rgb16 = np.array([[[65535, 32896, 0]]], np.uint16)
    ok, png16 = cv2.imencode(".png", rgb16[..., ::-1])  # OpenCV writes BGR
    assert ok
    np.testing.assert_array_equal(decode_image(png16.tobytes(), max_pixels=LIMIT)[0, 0], [255, 128, 0])


def test_one_pixel_image(zoo):
    np.testing.assert_array_equal(_decode(zoo["one_pixel.png"]), [[[10, 200, 30]]])


@pytest.mark.parametrize("name, reason", [
    ("bad_truncated.jpg", "unreadable"),
    ("bad_empty.jpg", "empty"),
    ("bad_text.jpg", "not a recognised image"),
])
def test_broken_files_raise_decode_error_naming_the_file(zoo, name, reason):
    with pytest.raises(DecodeError, match=reason) as info:
        decode_image(zoo[name], max_pixels=LIMIT)
    assert str(zoo[name]) in str(info.value)


def test_missing_file_and_bytes_name():
    with pytest.raises(DecodeError, match="nowhere.jpg: cannot read"):
        decode_image("/nonexistent/nowhere.jpg", max_pixels=LIMIT)
    with pytest.raises(DecodeError, match="record 7: empty"):
        decode_image(b"", max_pixels=LIMIT, name="record 7")


def test_pixel_limit_stops_before_decoding():
    data = jpeg_bytes(np.zeros((40, 50, 3), np.uint8))
    with pytest.raises(ImageTooLarge, match="40 = 2000 pixels exceeds data.max_pixels=1999"):
        decode_image(data, max_pixels=1999, name="big")
    assert decode_image(data, max_pixels=2000).shape == (40, 50, 3)


def test_pillow_bomb_limit_becomes_image_too_large(monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # raised to max_pixels; Pillow refuses above 2x that
    with pytest.raises(ImageTooLarge):
        decode_image(jpeg_bytes(np.zeros((20, 20, 3), np.uint8)), max_pixels=150)


def test_draft_decodes_large_jpeg_at_reduced_scale_keeping_short_side():
    image = np.zeros((400, 600, 3), np.uint8)
    image[:200] = 200
    small = decode_image(jpeg_bytes(image), max_pixels=LIMIT, draft_size=90)
    assert small.shape == (100, 150, 3)  # 1/4 scale: 100 >= 90, 1/8 would give 50 < 90
    assert abs(float(small[:40].mean()) - 200) < 3 and float(small[60:].mean()) < 3
    assert decode_image(jpeg_bytes(image), max_pixels=LIMIT, draft_size=1000).shape == (400, 600, 3)


def test_zoo_names_match_their_outcome(zoo):
    for name in zoo_bytes():
        if name.startswith("bad_"):
            with pytest.raises(DecodeError):
                decode_image(zoo[name], max_pixels=LIMIT)
        else:
            _decode(zoo[name])
