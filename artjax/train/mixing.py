"""CutMix and MixUp on the device, inside the jitted train step, driven by a PRNG key.

Per batch (as the original CutMix code and timm's default batch mode): with probability `prob`
the batch is mixed with a random permutation of itself, else returned bitwise unchanged. One
lambda ~ Beta(alpha, alpha) and, for CutMix, one box serve the whole batch. When both alphas are
positive, CutMix is chosen with probability `switch_prob`, MixUp otherwise.
The alphas, `prob` and `switch_prob` are Python floats (config values), fixed at trace time.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

NONE, CUTMIX, MIXUP = 0, 1, 2  # info['mode']


def cutmix_box(key: jax.Array, height: int, width: int, lam: jax.Array) -> tuple[jax.Array, ...]:
    """(y0, y1, x0, x1), half-open, of a box of sides sqrt(1 - lam) * (H, W) around a uniform centre.

    The box is clipped to the image, so its area can be smaller than (1 - lam) * H * W; callers
    take the label ratio from the clipped box.
    """
    ratio = jnp.sqrt(1.0 - lam)
    cut_h = jnp.floor(height * ratio).astype(jnp.int32)
    cut_w = jnp.floor(width * ratio).astype(jnp.int32)
    key_y, key_x = jax.random.split(key)
    cy = jax.random.randint(key_y, (), 0, height)
    cx = jax.random.randint(key_x, (), 0, width)
    y0, x0 = cy - cut_h // 2, cx - cut_w // 2
    return (jnp.clip(y0, 0, height), jnp.clip(y0 + cut_h, 0, height),
            jnp.clip(x0, 0, width), jnp.clip(x0 + cut_w, 0, width))


def _cutmix(key, alpha, images, targets, perm):
    _, height, width, _ = images.shape
    key_lam, key_box = jax.random.split(key)
    y0, y1, x0, x1 = cutmix_box(key_box, height, width, jax.random.beta(key_lam, alpha, alpha))
    # A static-shape mask from iotas: no dynamic slicing, so one compiled step serves every box.
    rows = jax.lax.broadcasted_iota(jnp.int32, (height, width), 0)
    cols = jax.lax.broadcasted_iota(jnp.int32, (height, width), 1)
    inside = (rows >= y0) & (rows < y1) & (cols >= x0) & (cols < x1)
    mixed = jnp.where(inside[None, :, :, None], images[perm], images)
    pasted = ((y1 - y0) * (x1 - x0)).astype(jnp.float32) / (height * width)  # the clipped area
    mixed_targets = (1.0 - pasted) * targets + pasted * targets[perm]
    return mixed, mixed_targets.astype(targets.dtype), 1.0 - pasted


def _mixup(key, alpha, images, targets, perm):
    lam = jax.random.beta(key, alpha, alpha)
    mixed = lam * images.astype(jnp.float32) + (1.0 - lam) * images[perm].astype(jnp.float32)
    mixed_targets = lam * targets + (1.0 - lam) * targets[perm]
    return mixed.astype(images.dtype), mixed_targets.astype(targets.dtype), lam


def mix_batch(key: jax.Array, images: jax.Array, targets: jax.Array, *, cutmix_alpha: float, mixup_alpha: float,
              prob: float, switch_prob: float = 0.5) -> tuple[jax.Array, jax.Array, dict[str, jax.Array]]:
    """Mixes (B, H, W, C) float images and (B, K) one-hot or soft float targets.

    Returns (images, targets, info); info['lam'] is the weight of each example's own target
    (1 when unmixed) and info['mode'] is NONE, CUTMIX or MIXUP.
    """
    if images.ndim != 4 or targets.ndim != 2 or images.shape[0] != targets.shape[0]:
        raise ValueError(f"mix_batch needs (B, H, W, C) images and (B, K) targets, got {images.shape}, {targets.shape}")
    if not jnp.issubdtype(images.dtype, jnp.floating) or not jnp.issubdtype(targets.dtype, jnp.floating):
        raise ValueError("mix_batch needs float images (normalise first) and float one-hot/soft targets")
    unchanged = {"lam": jnp.ones((), jnp.float32), "mode": jnp.asarray(NONE, jnp.int32)}
    methods = [(CUTMIX, cutmix_alpha, _cutmix), (MIXUP, mixup_alpha, _mixup)]
    methods = [m for m in methods if m[1] > 0]
    if prob <= 0 or not methods:
        return images, targets, unchanged

    key_apply, key_switch, key_perm, key_mix = jax.random.split(key, 4)
    branch = jnp.where(jax.random.uniform(key_apply) < prob, 1, 0)
    if len(methods) == 2:  # branch 1 = CutMix, 2 = MixUp
        branch = branch * jnp.where(jax.random.uniform(key_switch) < switch_prob, 1, 2)
    perm = jax.random.permutation(key_perm, images.shape[0])

    def identity(images, targets):
        return images, targets, unchanged["lam"]

    def bind(fn, alpha):
        return lambda images, targets: fn(key_mix, alpha, images, targets, perm)

    # lax.switch runs one branch: unmixed batches pay for no mixing and stay bitwise equal.
    branches = [identity] + [bind(fn, alpha) for _, alpha, fn in methods]
    images, targets, lam = jax.lax.switch(branch, branches, images, targets)
    mode = jnp.asarray([NONE] + [m[0] for m in methods], jnp.int32)[branch]
    return images, targets, {"lam": lam.astype(jnp.float32), "mode": mode}
