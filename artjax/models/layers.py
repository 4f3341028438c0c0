"""Layers with PyTorch semantics, shared by every family so converted weights give torch's outputs.

- `BatchNorm`: torch's running-variance update (unbiased batch variance) and eval behaviour;
  Flax's own BatchNorm updates the running variance with the biased one, which drifts from
  torch by n/(n-1) per step. `momentum` uses the Flax convention: torch momentum 0.1 == 0.9 here.
  epsilon: 1e-5 for torchvision models, 1e-3 for TF-ported ones (timm `tf_*`).
- `conv`: nnx.Conv with torch's explicit symmetric padding and He (fan_out) initialisation
  (through cpu_conv.py, fast on the CPU).
- `max_pool`: torch's MaxPool2d, including `ceil_mode`.
- `adaptive_avg_pool`: torch's AdaptiveAvgPool2d bins, also when the input is smaller than the
  output (bins then repeat input pixels).
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from artjax.models import cpu_conv

he_normal = nnx.initializers.variance_scaling(2.0, "fan_out", "normal")


class BatchNorm(nnx.Module):
    """BatchNorm over the last axis of NHWC (or NC) input, matching torch.nn.BatchNorm2d.

    `use_running_average` is toggled by `model.train()` / `model.eval()`. Parameters `scale`,
    `bias` (nnx.Param) and statistics `mean`, `var` (nnx.BatchStat) carry Flax's names, so
    filters written for nnx.BatchNorm work unchanged.
    """

    def __init__(self, num_features: int, *, momentum: float = 0.9, epsilon: float = 1e-5,
                 dtype: Any = None, use_running_average: bool = False,
                 rngs: nnx.Rngs | None = None):
        del rngs  # accepted for signature symmetry with nnx layers; initialisation is constant
        self.scale = nnx.Param(jnp.ones((num_features,), jnp.float32))
        self.bias = nnx.Param(jnp.zeros((num_features,), jnp.float32))
        self.mean = nnx.BatchStat(jnp.zeros((num_features,), jnp.float32))
        self.var = nnx.BatchStat(jnp.ones((num_features,), jnp.float32))
        self.momentum = momentum
        self.epsilon = epsilon
        self.dtype = dtype
        self.use_running_average = use_running_average

    def __call__(self, x: jax.Array) -> jax.Array:
        axes = tuple(range(x.ndim - 1))
        if self.use_running_average:
            mean, var = self.mean[...], self.var[...]
        else:
            xf = x.astype(jnp.float32)  # statistics in float32 even for bfloat16 compute
            mean = xf.mean(axes)
            var = jnp.square(xf - mean).mean(axes)
            n = math.prod(x.shape[:-1])
            m = self.momentum
            # set_value, not `[...] =`: nnx compares shardings on an indexed write, and on a tracer
            # that raises an error whose message walks the whole jaxpr (quadratic tracing time).
            self.mean.set_value(m * self.mean[...] + (1 - m) * mean)
            self.var.set_value(m * self.var[...] + (1 - m) * var * (n / max(n - 1, 1)))
        mul = self.scale[...] * jax.lax.rsqrt(var + self.epsilon)
        add = self.bias[...] - mean * mul
        dtype = self.dtype or x.dtype
        return (x * mul.astype(dtype) + add.astype(dtype)).astype(dtype)


def conv(in_features: int, out_features: int, kernel_size: int, stride: int = 1,
         padding: int = 0, *, groups: int = 1, bias: bool = False, dilation: int = 1,
         rngs: nnx.Rngs, dtype: Any = jnp.float32,
         kernel_init: Any = he_normal) -> nnx.Conv:
    """torch.nn.Conv2d(in, out, k, stride, padding, groups=, bias=) as an NHWC nnx.Conv."""
    return nnx.Conv(in_features, out_features, (kernel_size, kernel_size), (stride, stride),
                    padding=((padding, padding), (padding, padding)),
                    kernel_dilation=(dilation, dilation), feature_group_count=groups,
                    use_bias=bias, dtype=dtype, param_dtype=jnp.float32,
                    kernel_init=kernel_init, rngs=rngs, conv_general_dilated=cpu_conv.conv_general_dilated)


def linear(in_features: int, out_features: int, *, rngs: nnx.Rngs, dtype: Any = jnp.float32,
           kernel_init: Any = None) -> nnx.Linear:
    """torch.nn.Linear; default init is torch's U(-1/sqrt(in), 1/sqrt(in)) for weight and bias."""
    bound = 1.0 / math.sqrt(in_features)
    uniform = _symmetric_uniform(bound)
    return nnx.Linear(in_features, out_features, dtype=dtype, param_dtype=jnp.float32,
                      kernel_init=kernel_init or uniform,
                      bias_init=nnx.initializers.zeros if kernel_init else uniform, rngs=rngs)


def _symmetric_uniform(bound: float):
    def init(key, shape, dtype=jnp.float32):
        return jax.random.uniform(key, shape, dtype, -bound, bound)

    return init


def max_pool(x: jax.Array, kernel_size: int, stride: int, padding: int = 0,
             ceil_mode: bool = False) -> jax.Array:
    """torch.nn.MaxPool2d on NHWC: -inf padding; ceil_mode keeps a last partial window only
    if it starts inside the input or the left padding (torch's rule)."""
    pads = []
    for size in x.shape[1:3]:
        span = size + 2 * padding - kernel_size
        out = (-(-span // stride) if ceil_mode else span // stride) + 1
        if ceil_mode and (out - 1) * stride >= size + padding:
            out -= 1
        if out < 1:  # torch raises too; an empty map would only surface later as NaN
            raise ValueError(f"max_pool: a {size}-pixel map is smaller than its {kernel_size}-"
                             "pixel window; the input image is too small for this model")
        # Right padding just long enough for `out` windows (never negative: floor mode may
        # leave trailing pixels unused, which reduce_window's own floor division handles).
        pads.append((padding, max(0, (out - 1) * stride + kernel_size - size - padding)))
    # A Python-scalar init keeps reduce_window differentiable (an array init is not).
    return jax.lax.reduce_window(x, -jnp.inf, jax.lax.max,
                                 (1, kernel_size, kernel_size, 1), (1, stride, stride, 1),
                                 ((0, 0), *pads, (0, 0)))


def _adaptive_matrix(in_size: int, out_size: int) -> np.ndarray:
    # torch bins: [floor(i*in/out), ceil((i+1)*in/out)), averaged.
    m = np.zeros((out_size, in_size), np.float32)
    for i in range(out_size):
        start = (i * in_size) // out_size
        end = -(-((i + 1) * in_size) // out_size)
        m[i, start:end] = 1.0 / (end - start)
    return m


def adaptive_avg_pool(x: jax.Array, output_size: int) -> jax.Array:
    """torch.nn.AdaptiveAvgPool2d(output_size) on NHWC."""
    h, w = x.shape[1:3]
    if (h, w) == (output_size, output_size):
        return x
    mh = jnp.asarray(_adaptive_matrix(h, output_size), x.dtype)
    mw = jnp.asarray(_adaptive_matrix(w, output_size), x.dtype)
    return jnp.einsum("oh,nhwc,pw->nopc", mh, x, mw)


def global_avg_pool(x: jax.Array) -> jax.Array:
    """NHWC -> NC mean over the spatial axes."""
    return x.mean(axis=(1, 2))


def flatten_nchw(x: jax.Array) -> jax.Array:
    """Flattens NHWC in torch's (C, H, W) order, so converted Linear weights apply unchanged."""
    return jnp.transpose(x, (0, 3, 1, 2)).reshape(x.shape[0], -1)
