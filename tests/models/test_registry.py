import jax.numpy as jnp
import pytest
from flax import nnx

from artjax import models
from artjax.models import registry

MINE = ["alexnet", "alexnet_bn", "resnet18", "resnet34", "resnet50", "resnet101", "resnet152",
        "resnet_mini"] + [f"vgg{d}{bn}" for d in (11, 13, 16, 19) for bn in ("", "_bn")]


def test_list_models_holds_every_registered_family_member():
    assert set(MINE) <= set(models.list_models())
    assert models.list_models() == sorted(models.list_models())


def test_unknown_name_lists_close_matches():
    with pytest.raises(ValueError, match="unknown model 'resnet5'.*resnet50"):
        models.create("resnet5")


def test_registering_a_name_twice_fails():
    with pytest.raises(ValueError, match="already registered"):
        registry.register("resnet50")(lambda **kw: None)


def test_unknown_options_are_rejected():
    with pytest.raises(TypeError, match="widht"):
        models.create("resnet_mini", widht=8)


def test_create_returns_an_eval_mode_model_with_its_preprocessing():
    model = models.create("resnet_mini", num_classes=3, seed=1)
    assert model.stem.bn.use_running_average is True
    assert model.preprocessing == models.get_spec("resnet_mini").preprocessing
    alexnet_bn = nnx.eval_shape(lambda: models.create("alexnet_bn", num_classes=3))
    assert alexnet_bn.preprocessing.input_size == 227
    model.train()
    assert model.stem.bn.use_running_average is False


def test_seed_controls_initialisation():
    a = models.create("resnet_mini", seed=0).stem.conv.kernel[...]
    b = models.create("resnet_mini", seed=0).stem.conv.kernel[...]
    c = models.create("resnet_mini", seed=1).stem.conv.kernel[...]
    assert bool((a == b).all()) and not bool((a == c).all())


def test_stage_feature_maps_and_pooled_features():
    model = models.create("resnet_mini", num_classes=3)
    pooled, maps = model.forward_features(jnp.ones((2, 64, 64, 3)))
    assert pooled.shape == (2, model.num_features)
    assert list(maps) == list(model.stage_names[:-1])
    assert maps["stage4"].shape == (2, 2, 2, 128)
    assert model.feature_map_shape(64) == (2, 2, 128)


def test_models_work_under_nnx_jit():
    # Static attributes (stage names, head options) must be hashable for jit's cache key.
    model = models.create("resnet_mini", num_classes=3, head={"kind": "mlp", "layers": 2})
    x = jnp.ones((2, 32, 32, 3))
    jitted = nnx.jit(lambda m, x: m(x))(model, x)
    assert jnp.allclose(jitted, model(x), atol=1e-5)
