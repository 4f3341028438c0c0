"""CBAM: attention maps in (0, 1) with the documented shapes; all-ones attention is the identity."""

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from artjax.models.cbam import CBAM


def test_attention_shapes_and_range():
    cbam = CBAM(32, reduction=8, rngs=nnx.Rngs(0))
    x = jax.random.normal(jax.random.key(1), (2, 9, 11, 32))
    channel, spatial = cbam.attention_maps(x)
    assert channel.shape == (2, 1, 1, 32) and spatial.shape == (2, 9, 11, 1)
    for a in (channel, spatial):
        assert float(a.min()) > 0.0 and float(a.max()) < 1.0
    np.testing.assert_allclose(cbam(x), x * channel * spatial, rtol=1e-6)


def test_all_ones_attention_reproduces_the_input():
    cbam = CBAM(8, reduction=4, rngs=nnx.Rngs(0))
    # A sigmoid of a huge logit is 1 in float32: push both final layers' biases up.
    cbam.channel.fc2.kernel[...] = 0.0
    cbam.channel.fc2.bias = nnx.Param(jnp.full((8,), 50.0))
    cbam.spatial.conv.kernel[...] = 0.0
    cbam.spatial.conv.bias = nnx.Param(jnp.full((1,), 50.0))
    cbam.channel.fc2.use_bias = cbam.spatial.conv.use_bias = True
    x = jax.random.normal(jax.random.key(2), (1, 5, 5, 8))
    channel, spatial = cbam.attention_maps(x)
    np.testing.assert_array_equal(channel, 1.0)
    np.testing.assert_array_equal(spatial, 1.0)
    np.testing.assert_array_equal(cbam(x), x)
