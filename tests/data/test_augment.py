"""Augmentation presets: shapes, per-record determinism, and the recipe details that matter."""

import pickle
import threading

import albumentations as A
import numpy as np
import pytest

from artjax.data.augment import PRESETS, AlbumentationsTransform, make_transform

SIZE = 24


@pytest.fixture(scope="module")
def image():
    pixels = np.random.default_rng(0).integers(0, 256, (37, 53, 3), dtype=np.uint8)
    pixels.flags.writeable = False  # decoded images may be read-only; no preset may write into them
    return pixels


@pytest.mark.parametrize("train", [True, False])
@pytest.mark.parametrize("preset", PRESETS)
def test_every_preset_gives_uint8_square_of_image_size(preset, train, image):
    transform = make_transform(preset, image_size=SIZE, train=train)
    for source in (image, np.zeros((1, 1, 3), np.uint8), image[:5, :, :]):  # odd, tiny and flat inputs
        for seed in range(3):
            out = transform(source, seed)
            assert out.shape == (SIZE, SIZE, 3) and out.dtype == np.uint8


@pytest.mark.parametrize("preset", [p for p in PRESETS if p not in ("none",)])
def test_output_depends_only_on_the_record_seed(preset, image):
    first = make_transform(preset, image_size=SIZE, train=True)
    forward = [first(image, np.random.default_rng([7, i])) for i in range(12)]
    second = make_transform(preset, image_size=SIZE, train=True)  # fresh, and called in another order
    backward = [second(image, np.random.default_rng([7, i])) for i in reversed(range(12))][::-1]
    for a, b in zip(forward, backward):
        np.testing.assert_array_equal(a, b)
    assert len({o.tobytes() for o in forward}) > 1  # different seeds, different outputs


def test_int_seed_and_generator_are_both_accepted(image):
    transform = make_transform("s1_b3", image_size=SIZE, train=True)
    np.testing.assert_array_equal(transform(image, 11), transform(image, np.random.default_rng(11)))
    assert not np.array_equal(transform(image, 11), transform(image, 12))


def test_pickled_copy_and_other_thread_reproduce(image):
    transform = make_transform("s0", image_size=SIZE, train=True)
    expected = transform(image, 3)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(transform))(image, 3), expected)
    result = {}
    thread = threading.Thread(target=lambda: result.update(out=transform(image, 3)))
    thread.start()
    thread.join()
    np.testing.assert_array_equal(result["out"], expected)


def test_eval_transforms_are_deterministic_resizes(image):
    for preset in PRESETS:
        transform = make_transform(preset, image_size=SIZE, train=False)
        np.testing.assert_array_equal(transform(image, 0), transform(image, 99))
    flat = np.full((40, 60, 3), 77, np.uint8)
    flat[:, 30:] = 200  # left half dark, right half bright
    centre = make_transform("s1_b3", image_size=SIZE, train=False)(flat, 0)  # 2x resize, centre crop
    assert (centre[:, : SIZE // 2 - 1] == 77).all() and (centre[:, SIZE // 2 + 1 :] == 200).all()


def test_flip_preset_produces_exactly_identity_or_mirror(image):
    transform = make_transform("flip", image_size=SIZE, train=True)
    plain = make_transform("none", image_size=SIZE, train=True)(image, 0)
    outs = {transform(image, s).tobytes() for s in range(40)}
    assert outs == {plain.tobytes(), plain[:, ::-1].tobytes()}


def test_s1_b3_drops_four_holes_scaled_to_the_image_size():
    transform = AlbumentationsTransform("s1_b3", image_size=150, train=True)
    holes = [t for t in transform._compose().transforms if isinstance(t, A.CoarseDropout)]
    assert len(holes) == 1
    assert holes[0].num_holes_range == (4, 4)
    assert holes[0].hole_height_range == pytest.approx((64 / 150, 64 / 150))


def test_s2_pads_then_crops_so_borders_can_be_black():
    bright = np.full((32, 32, 3), 255, np.uint8)
    transform = make_transform("s2", image_size=32, train=True)
    outs = [transform(bright, s) for s in range(30)]
    assert any((o == 0).all(axis=-1).any() for o in outs)  # some crops reach the zero padding
    assert all((o == 0).all(axis=-1).sum() <= 32 * 8 for o in outs)  # at most 4 rows + 4 columns


def test_unknown_preset_and_bad_size_fail_early():
    with pytest.raises(ValueError, match="unknown augmentation preset 'fancy'"):
        make_transform("fancy", image_size=SIZE, train=True)
    with pytest.raises(ValueError, match="unknown augmentation preset"):
        make_transform("fancy", image_size=SIZE, train=False)
    with pytest.raises(ValueError, match="image_size"):
        make_transform("none", image_size=0, train=True)


def test_child_transforms_draw_independent_coin_tosses(monkeypatch):
    # Seeding every child with one seed (Compose.set_random_seed) makes both flips agree always.
    import artjax.data.augment as augment

    monkeypatch.setattr(augment, "_train_ops", lambda preset, s: [A.HorizontalFlip(p=0.5), A.VerticalFlip(p=0.5)])
    image = np.arange(2 * 2 * 3, dtype=np.uint8).reshape(2, 2, 3)
    transform = make_transform("none", image_size=2, train=True)
    seen = set()
    for seed in range(40):
        out = transform(image, seed)
        seen.add((np.array_equal(out, image[:, ::-1]) or np.array_equal(out, image[::-1, ::-1]),
                  np.array_equal(out, image[::-1]) or np.array_equal(out, image[::-1, ::-1])))
    assert seen == {(False, False), (False, True), (True, False), (True, True)}


def test_s1_quarter_crop_and_plain_resize_arms_differ_only_in_their_first_steps():
    def ops(preset):
        return AlbumentationsTransform(preset, image_size=150, train=True)._compose().transforms

    def names(preset):
        return [type(t).__name__ for t in ops(preset)]

    for crop, plain in (("s1_b3", "s1_b3_resize"), ("s1_v2_crop", "s1_v2")):
        resize_2x, random_crop = ops(crop)[:2]
        assert (resize_2x.height, type(random_crop).__name__, random_crop.height) == (300, "RandomCrop", 150)
        assert ops(plain)[0].height == 150 and names(crop)[2:] == names(plain)[1:]
