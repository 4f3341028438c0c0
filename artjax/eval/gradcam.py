"""Grad-CAM (Selvaraju et al., ICCV 2017) on a backbone's `feature_stage` map.

The class score is recomputed from the map A as `head(mean_hw(A), A)`, so the gradient reaches A
through both the pooled features (linear, MLP heads) and heads that read the map itself (VGG /
AlexNet classifiers, flattening dense heads). That equals the model's own forward pass only when
its pooled features ARE the spatial mean of A (true for every artjax family: ResNet, VGG,
EfficientNet, DenseNet, GoogLeNet, AlexNet); `gradcam` checks it and refuses otherwise.
  weights_c = mean_hw dScore/dA_c,   cam = ReLU(sum_c weights_c A_c)
upsampled bilinearly to the input size and divided by its maximum (all zeros where no location
supports the class). A one-logit sigmoid model explains class 1 by z and class 0 by -z.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from artjax.models.base import Backbone

_POOL_TOLERANCE = 1e-4  # relative: float32 means of the same numbers in another order


def _scores(model: Backbone, feature_map: jax.Array) -> jax.Array:
    logits = model.head(feature_map.mean(axis=(1, 2)), feature_map).astype(jnp.float32)
    if logits.shape[-1] == 1:
        # Deliberately not metrics.class_logits' [0, z]: class 0's score must depend on the map, or
        # its heatmap would have no gradient. [-z, z] ranks the classes as [0, z] does.
        logits = jnp.concatenate([-logits, logits], axis=-1)
    return logits


def cams(graphdef: nnx.GraphDef, state: nnx.State, images: jax.Array,
          classes: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Traceable: (heatmaps, explained classes, pooled-features error) of normalised `images`
    (see `gradcam`, which checks the error; an export checks it once)."""
    model = nnx.merge(graphdef, state)
    pooled, maps = model.forward_features(images)
    feature_map = maps[model.feature_stage].astype(jnp.float32)

    def chosen_score(fmap: jax.Array) -> tuple[jax.Array, jax.Array]:
        logits = _scores(model, fmap)
        chosen = jnp.where(classes < 0, jnp.argmax(logits, axis=-1), classes)
        # Examples are independent in eval mode, so the gradient of the sum is per example.
        return jnp.take_along_axis(logits, chosen[:, None], axis=-1).sum(), chosen

    grads, chosen = jax.grad(chosen_score, has_aux=True)(feature_map)
    weights = grads.mean(axis=(1, 2))
    cam = jax.nn.relu(jnp.einsum("nhwc,nc->nhw", feature_map, weights))
    cam = jax.image.resize(cam, (cam.shape[0], *images.shape[1:3]), method="linear")
    peak = cam.max(axis=(1, 2), keepdims=True)
    cam = jnp.clip(cam / jnp.where(peak > 0, peak, 1.0), 0.0, 1.0)  # peak 0: the map is all 0
    pooled = pooled.astype(jnp.float32)
    pool_error = jnp.abs(pooled - feature_map.mean(axis=(1, 2))).max() / jnp.maximum(1.0, jnp.abs(pooled).max())
    return cam, chosen, pool_error


_cams_jit = jax.jit(cams, static_argnums=0)


def gradcam(model: Backbone, images: jax.Array | np.ndarray,
            classes: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Heatmaps (N, H, W) in [0, 1] for normalised NHWC `images`, and the explained classes (N,).

    classes: per image the class to explain; None (or -1 entries) = the predicted class.
    The model must be in eval mode.
    """
    images = jnp.asarray(images)
    if images.ndim != 4:
        raise ValueError(f"gradcam needs NHWC images, got shape {images.shape}")
    wanted = np.full(len(images), -1, np.int32) if classes is None else np.asarray(classes, np.int32)
    graphdef, state = nnx.split(model)
    cam, chosen, pool_error = _cams_jit(graphdef, state, images, jnp.asarray(wanted))
    if float(pool_error) > _POOL_TOLERANCE:
        raise ValueError(f"Grad-CAM: {type(model).__name__}'s pooled features are not the spatial mean of its "
                         f"'{model.feature_stage}' map (relative difference {float(pool_error):.3g})")
    return np.asarray(cam), np.asarray(chosen)
