"""CBAM, the Convolutional Block Attention Module (Woo et al., ECCV 2018).

Channel attention, then spatial attention, each a sigmoid map multiplied into the features:
- channel: a shared MLP (C -> C/reduction -> C, ReLU) scores the average- and the max-pooled
  descriptors; their sum through a sigmoid gives one weight per channel, shape (N, 1, 1, C);
- spatial: a 7x7 conv over the stacked channel-wise mean and max maps, through a sigmoid,
  gives one weight per pixel, shape (N, H, W, 1).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

from artjax.models.layers import conv


class ChannelAttention(nnx.Module):
    def __init__(self, channels: int, reduction: int = 16, *, rngs: nnx.Rngs, dtype: Any = jnp.float32):
        hidden = max(channels // reduction, 1)
        self.fc1 = conv(channels, hidden, 1, rngs=rngs, dtype=dtype)
        self.fc2 = conv(hidden, channels, 1, rngs=rngs, dtype=dtype)

    def __call__(self, x: jax.Array) -> jax.Array:
        """The (N, 1, 1, C) attention weights in (0, 1)."""
        mlp = lambda d: self.fc2(jax.nn.relu(self.fc1(d)))  # noqa: E731 - shared by both paths
        avg = x.mean(axis=(1, 2), keepdims=True)
        peak = x.max(axis=(1, 2), keepdims=True)
        return jax.nn.sigmoid(mlp(avg) + mlp(peak))


class SpatialAttention(nnx.Module):
    def __init__(self, kernel_size: int = 7, *, rngs: nnx.Rngs, dtype: Any = jnp.float32):
        self.conv = conv(2, 1, kernel_size, padding=kernel_size // 2, rngs=rngs, dtype=dtype)

    def __call__(self, x: jax.Array) -> jax.Array:
        """The (N, H, W, 1) attention weights in (0, 1)."""
        pooled = jnp.concatenate([x.mean(axis=-1, keepdims=True), x.max(axis=-1, keepdims=True)], axis=-1)
        return jax.nn.sigmoid(self.conv(pooled))


class CBAM(nnx.Module):
    """x -> x * channel(x) -> (that) * spatial(that); `attention_maps` exposes both weights."""

    def __init__(self, channels: int, reduction: int = 16, kernel_size: int = 7, *, rngs: nnx.Rngs,
                 dtype: Any = jnp.float32):
        self.channel = ChannelAttention(channels, reduction, rngs=rngs, dtype=dtype)
        self.spatial = SpatialAttention(kernel_size, rngs=rngs, dtype=dtype)

    def attention_maps(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        channel = self.channel(x)
        return channel, self.spatial(x * channel)

    def __call__(self, x: jax.Array) -> jax.Array:
        channel, spatial = self.attention_maps(x)
        return x * channel * spatial
