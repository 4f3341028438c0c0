"""Convolutions written for XLA:CPU's strengths, used only when JAX runs on the CPU.

Two shapes of convolution are slow in XLA:CPU's generic convolution kernel and fast when written
as k*k shifted slices of the padded input ("taps"), one per kernel position, combined and summed:
- depthwise (one channel per group: EfficientNet's 3x3 and 5x5): each tap is multiplied by its
  per-channel weights, and XLA fuses the k*k multiply-adds into one loop: 10-20x faster forward,
  ~6x with the backward pass;
- dense convolutions with a tiny output (ResNet's last stage at CIFAR's 32 px works on 2x2 and
  1x1 maps, which XLA rewrites into slow kernel-as-input convolutions): each tap is a matrix
  product with its (C_in, C_out) weights.
`conv_general_dilated` is a drop-in for `jax.lax.conv_general_dilated` (nnx.Conv takes it as an
argument) that takes those routes on the CPU and calls lax unchanged otherwise, so GPU/TPU
programs are untouched. Results equal lax's up to float32 rounding (summation order).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax

_NHWC = ("NHWC", "HWIO", "NHWC")
SMALL_OUTPUT = 4  # output pixels (H x W) up to which a dense convolution runs as taps


def _as_taps(lhs: jax.Array, rhs: jax.Array, strides: Sequence[int], pads: Sequence[tuple[int, int]],
             lhs_dilation: Any, rhs_dilation: Any, dimension_numbers: Any, groups: int) -> bool:
    """Whether this convolution is one of the two shapes `taps` runs faster than lax on the CPU."""
    plain = (lhs.ndim == 4 and all(d == 1 for d in (*(lhs_dilation or ()), *(rhs_dilation or ())))
             and dimension_numbers == lax.conv_dimension_numbers(lhs.shape, rhs.shape, _NHWC))
    if not plain:
        return False
    channels = lhs.shape[-1]
    if groups == channels > 1 and rhs.shape[2:] == (1, channels):
        return True  # depthwise
    out_pixels = 1
    for size, k, s, (lo, hi) in zip(lhs.shape[1:3], rhs.shape[:2], strides, pads):
        out_pixels *= (size + lo + hi - k) // s + 1
    return groups == 1 and rhs.shape[0] * rhs.shape[1] > 1 and out_pixels <= SMALL_OUTPUT


def taps(x: jax.Array, kernel: jax.Array, strides: Sequence[int], padding: Sequence[tuple[int, int]]) -> jax.Array:
    """NHWC convolution as kh*kw strided slices of the padded input, each combined with its
    kernel position's weights and summed: a per-channel product for a depthwise (kh, kw, 1, C)
    kernel, a matrix product for a dense (kh, kw, C_in, C_out) one."""
    depthwise = kernel.shape[2] == 1 < x.shape[-1]
    (top, bottom), (left, right) = padding
    x = jnp.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)))
    kh, kw = kernel.shape[:2]
    sh, sw = strides
    n, h, w, c = x.shape
    ho, wo = (h - kh) // sh + 1, (w - kw) // sw + 1
    out = None
    for dy in range(kh):
        for dx in range(kw):
            tap = lax.slice(x, (0, dy, dx, 0), (n, dy + sh * (ho - 1) + 1, dx + sw * (wo - 1) + 1, c), (1, sh, sw, 1))
            term = tap * kernel[dy, dx, 0] if depthwise else jnp.einsum("nhwc,cd->nhwd", tap, kernel[dy, dx])
            out = term if out is None else out + term
    return out


def conv_general_dilated(lhs: jax.Array, rhs: jax.Array, window_strides: Sequence[int], padding: Any,
                         lhs_dilation: Any = None, rhs_dilation: Any = None, dimension_numbers: Any = None,
                         feature_group_count: int = 1, precision: Any = None, **kwargs: Any) -> jax.Array:
    """`lax.conv_general_dilated`, with the convolutions XLA:CPU is slow at run as taps on the CPU."""
    if jax.default_backend() == "cpu" and not kwargs.get("preferred_element_type") and lhs.ndim == 4:
        pads = lax.padtype_to_pads(lhs.shape[1:3], rhs.shape[:2], window_strides, padding) \
            if isinstance(padding, str) else padding
        if _as_taps(lhs, rhs, window_strides, pads, lhs_dilation, rhs_dilation, dimension_numbers,
                    feature_group_count):
            return taps(lhs, rhs, window_strides, pads)
    return lax.conv_general_dilated(lhs, rhs, window_strides, padding, lhs_dilation, rhs_dilation,
                                    dimension_numbers, feature_group_count, precision=precision, **kwargs)
