"""The learnable Resizer: bilinear at initialisation, trainable everywhere, up and down."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from artjax.models.resizer import Resizer


@pytest.mark.parametrize("cbam", [False, True])
@pytest.mark.parametrize("size", [48, 12])
def test_zero_initialised_output_is_plain_bilinear(cbam, size):
    resizer = Resizer(target_size=size, cbam=cbam, blocks=2, rngs=nnx.Rngs(0))
    x = jax.random.normal(jax.random.key(0), (2, 24, 24, 3))
    y = resizer(x)
    assert y.shape == (2, size, size, 3)
    expected = jax.image.resize(x, (2, size, size, 3), "linear")
    np.testing.assert_allclose(y, expected, atol=1e-6)


@pytest.mark.parametrize("cbam", [False, True])
def test_gradients_reach_every_parameter(cbam):
    resizer = Resizer(target_size=32, filters=8, cbam=cbam, zero_init_output=False, rngs=nnx.Rngs(0))
    x = jax.random.normal(jax.random.key(0), (2, 16, 16, 3))

    def loss(model):
        return jnp.mean(jnp.square(model(x) - 0.3))

    grads = nnx.grad(loss)(resizer)
    leaves = jax.tree_util.tree_leaves_with_path(nnx.state(grads, nnx.Param))
    assert leaves
    for path, g in leaves:
        assert float(jnp.abs(g).max()) > 0, jax.tree_util.keystr(path)
