"""The view registry: names, lookup, what each view cuts, and that every consumer reads it."""

import pickle

import numpy as np
import pytest

from artjax.data import views as geometry
from artjax.data.augment import make_transform
from artjax.eval import views


def _image(height=40, width=28, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


BASE = make_transform("none", image_size=16, train=False)


def test_names_and_lookup_fail_listing_the_views():
    assert views.NAMES == ("full", "quadrants", "random_quarter", "hflip", "pyramid")
    assert views.get("hflip").name == "hflip"
    with pytest.raises(ValueError, match="full, quadrants, random_quarter, hflip, pyramid"):
        views.get("center")


@pytest.mark.parametrize("name", views.NAMES)
def test_every_view_cuts_its_number_of_crops_and_survives_pickling(name):
    transform = views.ViewTransform(name, image_size=16, base=BASE, levels=(1, 2))
    crops = transform.crops(_image(), np.random.default_rng(3))
    assert crops.shape == (transform.num_crops, 16, 16, 3) and crops.dtype == np.uint8
    single = transform(_image(), np.random.default_rng(3))
    assert single.shape == ((16, 16, 3) if transform.num_crops == 1 else crops.shape)  # plain images for one crop
    again = pickle.loads(pickle.dumps(transform))  # grain workers receive the transform pickled
    np.testing.assert_array_equal(again.crops(_image(), np.random.default_rng(3)), crops)


def test_the_crops_are_the_geometry_of_data_views():
    image, rng = _image(), np.random.default_rng(5)
    cut = lambda name: views.ViewTransform(name, image_size=16, base=BASE).crops(image, np.random.default_rng(5))  # noqa: E731
    np.testing.assert_array_equal(cut("full")[0], BASE(image, np.random.default_rng(5)))
    np.testing.assert_array_equal(cut("hflip"), np.stack([cut("full")[0], cut("full")[0][:, ::-1]]))
    np.testing.assert_array_equal(cut("quadrants"), np.stack(geometry.quadrants(image, size=16)[0]))
    np.testing.assert_array_equal(cut("random_quarter"),
                                  np.stack(geometry.random_quarter_crops(image, 4, rng, size=16)[0]))
    np.testing.assert_array_equal(cut("pyramid"), np.stack(geometry.pyramid_crops(image, size=16)[0]))
    assert views.ViewTransform("pyramid", image_size=16).num_crops == 30


def test_views_on_the_eval_transform_need_it():
    with pytest.raises(ValueError, match="evaluation transform"):
        views.ViewTransform("hflip", image_size=16)
    views.ViewTransform("quadrants", image_size=16)  # cut from the decoded image itself


def test_pyramid_training_transform_flips_the_whole_painting_half_the_time():
    image = _image()
    transform = views.pyramid_train_transform(16, (1, 2, 5))
    plain = np.stack(geometry.pyramid_crops(image, size=16)[0])
    mirrored = np.stack(geometry.pyramid_crops(image[:, ::-1], size=16)[0])
    flips = []
    for seed in range(16):
        crops = transform(image, np.random.default_rng(seed))
        flips.append(np.array_equal(crops, mirrored))
        assert flips[-1] or np.array_equal(crops, plain)
        assert flips[-1] == (np.random.default_rng(seed).random() < 0.5)
    assert 0 < sum(flips) < 16


def test_predict_offers_every_view():
    from artjax import predict

    action = next(a for a in predict._parser()._actions if a.dest == "view")
    assert tuple(action.choices) == views.NAMES


def test_config_validation_accepts_exactly_the_registry():
    from artjax.config import ConfigError
    from artjax.config.defaults import defaults
    from artjax.config.validate import validate

    config = defaults()
    for name in views.NAMES:
        config.eval.view = name
        validate(config)
    config.eval.view = "tiles"
    with pytest.raises(ConfigError, match="full, quadrants, random_quarter, hflip, pyramid"):
        validate(config)
