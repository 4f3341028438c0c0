import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
from flax import nnx

from artjax import models
from artjax.models import heads


def test_mlp_head_widths_halve_like_s0():
    model = nnx.eval_shape(lambda: models.create("resnet50", num_classes=25,
                                                 head={"kind": "mlp", "layers": 3}))
    assert [layer.kernel.shape for layer in model.head.layers] == [(2048, 1024), (1024, 512),
                                                                   (512, 25)]
    one = nnx.eval_shape(lambda: models.create("resnet50", num_classes=25,
                                               head={"kind": "mlp", "layers": 1}))
    assert [layer.kernel.shape for layer in one.head.layers] == [(2048, 25)]


def test_logits_head_keeps_the_imagenet_classifier_below_dropout_and_linear():
    model = models.create("resnet_mini", num_classes=50, head={"kind": "logits", "dropout": 0.3})
    assert model.head.imagenet.fc.kernel.shape == (128, 1000)
    assert model.head.fc.kernel.shape == (1000, 50)
    assert model.head.dropout.rate == 0.3
    x = jnp.ones((2, 32, 32, 3))
    pooled, maps = model.forward_features(x)
    expected = model.head.fc(model.head.imagenet(pooled, maps["stage4"]))  # eval: no dropout
    np.testing.assert_allclose(model(x), expected, rtol=1e-6)


def test_dense_head_flattens_the_map_of_the_configured_input_size():
    # S3: VGG16 at 150 px -> 4x4x512 map -> Flatten -> Dense 256 -> classes.
    model = nnx.eval_shape(lambda: models.create(
        "vgg16", num_classes=1, head={"kind": "dense", "units": 256, "input_size": 150}))
    assert model.head.hidden.kernel.shape == (4 * 4 * 512, 256)
    assert model.head.fc.kernel.shape == (256, 1)


def test_dense_head_output_follows_flatten_relu_dense():
    model = models.create("resnet_mini", num_classes=3,
                          head={"kind": "dense", "units": 8, "input_size": 32})
    x = jnp.ones((2, 32, 32, 3))
    _, maps = model.forward_features(x)
    h = np.maximum(maps["stage4"].reshape(2, -1) @ model.head.hidden.kernel[...]
                   + model.head.hidden.bias[...], 0)
    expected = h @ model.head.fc.kernel[...] + model.head.fc.bias[...]
    np.testing.assert_allclose(model(x), expected, rtol=1e-5, atol=1e-5)


def test_vgg_classifier_pools_to_7x7_and_flattens_in_torch_order():
    model = nnx.eval_shape(lambda: models.create("vgg11", num_classes=4))
    assert model.head_spec == {"kind": "vgg_classifier", "dropout": 0.5}
    assert model.head.fc1.kernel.shape == (512 * 49, 4096)


def test_config_dict_heads_ignore_keys_of_other_kinds():
    cfg = ml_collections.ConfigDict({"kind": "linear", "layers": 2, "dropout": 0.1, "units": 256})
    model = models.create("resnet_mini", num_classes=3, head=cfg)
    assert model.head_spec == {"kind": "linear", "dropout": 0.1}


@pytest.mark.parametrize("head,message", [({"kind": "attention"}, "unknown head kind"),
                                          ({"kind": "mlp", "layers": 4}, "1, 2 or 3"),
                                          ({"kind": "linear", "widht": 3}, "widht"),
                                          ({"kind": "linear", "dropout": 1.5}, "dropout")])
def test_bad_head_options_fail_with_a_clear_message(head, message):
    with pytest.raises(ValueError, match=message):
        heads.resolve_spec(head, default={"kind": "linear"})


def test_reset_head_changes_classes_and_keeps_the_training_mode():
    model = models.create("resnet_mini", num_classes=3)
    stem_before = np.asarray(model.stem.conv.kernel[...])
    model.train()
    model.reset_head(9, rngs=nnx.Rngs(1), head={"kind": "mlp", "layers": 2, "dropout": 0.5})
    assert model.num_classes == 9 and model.head_spec["kind"] == "mlp"
    assert model.head.dropout.deterministic is False
    assert model(jnp.ones((2, 32, 32, 3))).shape == (2, 9)
    np.testing.assert_array_equal(model.stem.conv.kernel[...], stem_before)
    model.eval()
    model.reset_head(4, rngs=nnx.Rngs(2))
    assert model.head_spec["kind"] == "mlp" and model.head.dropout.deterministic is True
