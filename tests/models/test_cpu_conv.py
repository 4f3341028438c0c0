"""The CPU routes (depthwise convolutions, dense ones with tiny outputs) equal lax's convolution
in values and gradients for the kernels, strides and paddings the models use, and every other
convolution stays with lax."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from artjax.models import cpu_conv

DN = ("NHWC", "HWIO", "NHWC")


def _groups(x, w):
    return x.shape[-1] // w.shape[2]


def _lax(x, w, strides, padding):
    return lax.conv_general_dilated(x, w, strides, padding, dimension_numbers=DN, feature_group_count=_groups(x, w))


def _ours(x, w, strides, padding):
    dn = lax.conv_dimension_numbers(x.shape, w.shape, DN)
    return cpu_conv.conv_general_dilated(x, w, strides, padding, dimension_numbers=dn,
                                         feature_group_count=_groups(x, w))


def _jaxpr(x, w, strides, padding):
    return str(jax.make_jaxpr(lambda x, w: _ours(x, w, strides, padding))(x, w))


CASES = [  # (input H x W, kernel shape, stride, padding)
    ((11, 9), (3, 3, 1, 6), 1, ((1, 1), (1, 1))),  # depthwise
    ((11, 9), (5, 5, 1, 6), 2, ((2, 2), (2, 2))),
    ((11, 9), (3, 3, 1, 6), 2, "SAME"),
    ((11, 9), (5, 5, 1, 6), 1, "SAME"),
    ((11, 9), (3, 3, 1, 6), 2, ((0, 1), (0, 1))),
    ((2, 2), (3, 3, 6, 5), 1, ((1, 1), (1, 1))),  # dense, 2 x 2 output
    ((2, 2), (3, 3, 6, 5), 2, ((1, 1), (1, 1))),  # dense, 1 x 1 output
]


@pytest.mark.parametrize("size, kernel, stride, padding", CASES)
def test_taps_equal_lax_values_and_gradients(size, kernel, stride, padding):
    x = jax.random.normal(jax.random.key(0), (2, *size, 6))
    w = jax.random.normal(jax.random.key(1), kernel)
    strides = (stride, stride)
    assert "conv_general_dilated" not in _jaxpr(x, w, strides, padding)  # the taps route ran
    np.testing.assert_allclose(_ours(x, w, strides, padding), _lax(x, w, strides, padding), rtol=1e-5, atol=1e-5)
    grads = [jax.grad(lambda x, w, f=f: jnp.sum(jnp.sin(f(x, w, strides, padding))), argnums=(0, 1))(x, w)
             for f in (_ours, _lax)]
    for ours, ref in zip(*grads):
        np.testing.assert_allclose(ours, ref, rtol=1e-4, atol=1e-5)


def test_other_convolutions_stay_with_lax():
    x = jnp.ones((1, 8, 8, 4))
    for kernel in ((3, 3, 4, 4), (1, 1, 4, 8), (3, 3, 2, 4)):  # dense 8x8 output, 1x1, 2 groups
        assert "conv_general_dilated" in _jaxpr(x, jnp.ones(kernel), (1, 1), "SAME"), kernel
