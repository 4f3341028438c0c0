"""The learnable Resizer (Talebi & Milanfar, "Learning to Resize Images for Computer Vision
Tasks", ICCV 2021), optionally with CBAM in its residual blocks (S2's "Resizer_CBAM").

    skip    = resize(x)                                    bilinear to the target size
    f       = BN(LReLU(conv1x1(LReLU(conv7x7(x)))))         n filters, LeakyReLU slope 0.2
    r       = resize(f)
    z       = ResBlock^r(r)                                 conv3x3-BN-LReLU-conv3x3-BN (+CBAM), + identity
    z       = BN(conv3x3(z)) + r
    output  = conv7x7(z) -> 3 channels, + skip

The last conv starts at zero (`zero_init_output`, the default), so a fresh Resizer is exactly
bilinear resizing and training starts from the usual pipeline. Works for up- and down-scaling;
`jax.image.resize` anti-aliases when shrinking ("linear" = bilinear).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

from artjax.models.cbam import CBAM
from artjax.models.layers import BatchNorm, conv

_SLOPE = 0.2


INTERPOLATIONS = ("linear", "cubic", "nearest")  # the jax.image.resize methods the skip path takes


def resize(x: jax.Array, size: int, method: str) -> jax.Array:
    n, _, _, c = x.shape
    return jax.image.resize(x, (n, size, size, c), method=method).astype(x.dtype)


class ResBlock(nnx.Module):
    def __init__(self, n: int, *, cbam: bool, rngs: nnx.Rngs, dtype: Any):
        self.conv1 = conv(n, n, 3, padding=1, rngs=rngs, dtype=dtype)
        self.bn1 = BatchNorm(n, dtype=dtype)
        self.conv2 = conv(n, n, 3, padding=1, rngs=rngs, dtype=dtype)
        self.bn2 = BatchNorm(n, dtype=dtype)
        self.cbam = CBAM(n, reduction=min(16, n), rngs=rngs, dtype=dtype) if cbam else None

    def __call__(self, x: jax.Array) -> jax.Array:
        y = self.bn2(self.conv2(jax.nn.leaky_relu(self.bn1(self.conv1(x)), _SLOPE)))
        if self.cbam is not None:
            y = self.cbam(y)
        return x + y


class Resizer(nnx.Module):
    def __init__(self, *, target_size: int, filters: int = 16, blocks: int = 1, cbam: bool = False,
                 interpolation: str = "linear", zero_init_output: bool = True, rngs: nnx.Rngs,
                 dtype: Any = jnp.float32):
        n = filters
        self.target_size = target_size
        self.interpolation = interpolation
        self.conv_in = conv(3, n, 7, padding=3, bias=True, rngs=rngs, dtype=dtype)
        self.conv_mix = conv(n, n, 1, bias=True, rngs=rngs, dtype=dtype)
        self.bn_in = BatchNorm(n, dtype=dtype)
        self.blocks = nnx.List([ResBlock(n, cbam=cbam, rngs=rngs, dtype=dtype) for _ in range(blocks)])
        self.conv_post = conv(n, n, 3, padding=1, rngs=rngs, dtype=dtype)
        self.bn_post = BatchNorm(n, dtype=dtype)
        init = nnx.initializers.zeros if zero_init_output else nnx.initializers.lecun_normal()
        self.conv_out = conv(n, 3, 7, padding=3, bias=True, rngs=rngs, dtype=dtype, kernel_init=init)

    def bilinear(self, x: jax.Array) -> jax.Array:
        """The skip path alone: what plain resizing would give."""
        return resize(x, self.target_size, self.interpolation)

    def __call__(self, x: jax.Array) -> jax.Array:
        f = jax.nn.leaky_relu(self.conv_in(x), _SLOPE)
        f = self.bn_in(jax.nn.leaky_relu(self.conv_mix(f), _SLOPE))
        r = resize(f, self.target_size, self.interpolation)
        z = r
        for block in self.blocks:
            z = block(z)
        z = self.bn_post(self.conv_post(z)) + r
        return self.conv_out(z) + self.bilinear(x)
