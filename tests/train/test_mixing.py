"""CutMix / MixUp: box bounds, label ratio = pasted area, Beta statistics, bitwise identity at p=0."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from artjax.train import mixing

B, H, W, C, K = 4, 12, 9, 3, 4


def _batch(seed=0):
    rng = np.random.default_rng(seed)
    images = jnp.asarray(rng.normal(size=(B, H, W, C)).astype(np.float32))
    targets = jnp.asarray(np.eye(K, dtype=np.float32)[np.arange(B) % K])  # distinct classes
    return images, targets


def test_boxes_stay_inside_the_image_and_clip_at_borders():
    keys = jax.random.split(jax.random.key(0), 4000)
    lams = jax.random.uniform(jax.random.key(1), (4000,))
    y0, y1, x0, x1 = (np.asarray(v) for v in jax.vmap(lambda k, lam: mixing.cutmix_box(k, H, W, lam))(keys, lams))
    assert np.all((0 <= y0) & (y0 <= y1) & (y1 <= H) & (0 <= x0) & (x0 <= x1) & (x1 <= W))
    full_h = np.floor(H * np.sqrt(1 - np.asarray(lams))).astype(int)
    assert np.all(y1 - y0 <= full_h)
    assert np.any(y1 - y0 < full_h) and np.any((y1 - y0 == full_h) & (full_h > 0))  # some clipped, some not


def test_cutmix_label_ratio_equals_pasted_pixel_fraction():
    images, targets = _batch()
    step = jax.jit(functools.partial(mixing.mix_batch, cutmix_alpha=1.0, mixup_alpha=0.0, prob=1.0))
    checked = 0
    for seed in range(30):
        mixed, mixed_targets, info = step(jax.random.key(seed), images, targets)
        assert int(info["mode"]) == mixing.CUTMIX
        mixed, mixed_targets = np.asarray(mixed), np.asarray(mixed_targets)
        for i in range(B):
            changed = np.any(mixed[i] != np.asarray(images[i]), axis=-1)  # pixels taken from the partner
            own = int(np.argmax(np.asarray(targets[i])))
            partner = [j for j in range(B) if not np.array_equal(mixed[i][changed], np.asarray(images[j])[changed])]
            if not changed.any():
                continue
            assert len(partner) == B - 1  # every pasted pixel comes from one other image
            fraction = np.float32(changed.sum()) / np.float32(H * W)
            partner_class = int(np.flatnonzero((mixed_targets[i] > 0) & (np.arange(K) != own))[0])
            # Equal up to float32 rounding (XLA may divide by H*W as a multiply by its reciprocal).
            assert abs(mixed_targets[i, partner_class] - fraction) <= np.spacing(fraction)
            assert mixed_targets[i, own] == pytest.approx(1 - fraction, abs=1e-7)
            assert float(info["lam"]) == pytest.approx(1 - fraction, abs=1e-7)
            checked += 1
    assert checked > 50
    np.testing.assert_allclose(mixed_targets.sum(axis=1), 1.0, rtol=1e-6)


def test_mixup_blends_images_and_targets_with_lambda():
    images, targets = _batch()
    mixed, mixed_targets, info = jax.jit(functools.partial(
        mixing.mix_batch, cutmix_alpha=0.0, mixup_alpha=0.4, prob=1.0))(jax.random.key(3), images, targets)
    lam = float(info["lam"])
    assert int(info["mode"]) == mixing.MIXUP and 0 < lam < 1
    for i in range(B):
        own = np.asarray(targets[i]) * lam
        partner = (np.asarray(mixed_targets[i]) - own) / (1 - lam)
        j = int(np.argmax(partner))  # the partner's class identifies the partner image
        np.testing.assert_allclose(mixed[i], lam * images[i] + (1 - lam) * images[j], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("alpha", [0.2, 1.0])
def test_mixup_lambda_follows_beta(alpha):
    images, targets = jnp.zeros((2, 2, 2, 1)), jnp.eye(2)
    draw = jax.jit(jax.vmap(lambda k: mixing.mix_batch(k, images, targets, cutmix_alpha=0.0, mixup_alpha=alpha,
                                                       prob=1.0)[2]["lam"]))
    lam = np.asarray(draw(jax.random.split(jax.random.key(0), 20000)), np.float64)
    var = 1.0 / (4.0 * (2.0 * alpha + 1.0))  # Beta(a, a): mean 1/2, variance 1 / (4 (2a + 1))
    assert abs(lam.mean() - 0.5) < 4 * np.sqrt(var / 20000)
    assert lam.var() == pytest.approx(var, rel=0.05)


def test_probability_and_switch_frequencies():
    images, targets = jnp.zeros((2, 4, 4, 1)), jnp.eye(2)
    draw = jax.jit(jax.vmap(lambda k: mixing.mix_batch(k, images, targets, cutmix_alpha=1.0, mixup_alpha=1.0,
                                                       prob=0.5, switch_prob=0.25)[2]["mode"]))
    mode = np.asarray(draw(jax.random.split(jax.random.key(1), 20000)))
    assert np.mean(mode == mixing.NONE) == pytest.approx(0.5, abs=0.02)
    assert np.mean(mode == mixing.CUTMIX) == pytest.approx(0.5 * 0.25, abs=0.02)
    assert np.mean(mode == mixing.MIXUP) == pytest.approx(0.5 * 0.75, abs=0.02)


def test_unmixed_batches_are_bitwise_unchanged():
    images, targets = _batch()
    for prob, cutmix_alpha in [(0.0, 1.0), (1.0, 0.0)]:  # off by probability, off by alpha
        out = jax.jit(functools.partial(mixing.mix_batch, cutmix_alpha=cutmix_alpha, mixup_alpha=0.0,
                                        prob=prob))(jax.random.key(0), images, targets)
        assert np.array_equal(out[0], images) and np.array_equal(out[1], targets)
        assert int(out[2]["mode"]) == mixing.NONE and float(out[2]["lam"]) == 1.0
    step = jax.jit(functools.partial(mixing.mix_batch, cutmix_alpha=1.0, mixup_alpha=1.0, prob=0.5))
    modes = []
    for seed in range(12):  # the not-applied branch of p = 0.5 returns the batch untouched too
        mixed, mixed_targets, info = step(jax.random.key(seed), images, targets)
        modes.append(int(info["mode"]))
        if modes[-1] == mixing.NONE:
            assert np.array_equal(mixed, images) and np.array_equal(mixed_targets, targets)
        else:
            assert not np.array_equal(mixed, images)
    assert mixing.NONE in modes and len(set(modes)) > 1


def test_bad_inputs_fail_clearly():
    images, targets = _batch()
    with pytest.raises(ValueError, match="float"):
        mixing.mix_batch(jax.random.key(0), images.astype(jnp.uint8), targets, cutmix_alpha=1.0, mixup_alpha=0.0,
                         prob=1.0)
    with pytest.raises(ValueError, match=r"\(B, K\) targets"):
        mixing.mix_batch(jax.random.key(0), images, jnp.zeros(B), cutmix_alpha=1.0, mixup_alpha=0.0, prob=1.0)
