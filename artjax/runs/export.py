"""A run's model as a self-contained `jax.export` artifact (MODEL_DIR), loadable with jax alone.

MODEL_DIR/model.jaxexport maps uint8 images (b, S, S, 3) (a pyramid model: its pyramid crops
(b, crops, S, S, 3), cut on the host by `artjax.data.views.pyramid_crops`) to float32 class
probabilities (b, classes): the model's normalisation, forward pass and the calibrated softmax
softmax(logits / T) inside, the parameters baked in as constants. The batch dimension is symbolic.
gradcam.jaxexport (not for pyramid models) maps the same images and int32 classes (b,) (-1: the
predicted class) to Grad-CAM heatmaps (b, S, S) in [0, 1]. manifest.json says how to prepare an
image (the evaluation transform's steps) and what the outputs mean; `artjax.serving` reads it.
"""

from __future__ import annotations

import json
import os
from importlib import metadata
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from artjax.data.augment import describe_eval
from artjax.eval import gradcam, metrics, views
from artjax.eval.scoring import score_view
from artjax.models.pyramid import DEFAULT_LEVELS
from artjax.runs import calibrate
from artjax.runs.restore import RestoredRun

FORMAT_VERSION = 1
MODEL_FILE, GRADCAM_FILE, MANIFEST_FILE = "model.jaxexport", "gradcam.jaxexport", "manifest.json"
PLATFORMS = ("cpu", "cuda")  # lowering for CUDA needs no GPU here; a GPU machine runs the same file


def _probabilities_fn(run: RestoredRun, temperature: float):
    graphdef, state = nnx.split(run.model)
    levels = tuple(run.model.levels) if hasattr(run.model, "levels") else None
    view = views.get("pyramid" if levels else "full")
    prepare, sigmoid = run.prepare(), run.config.loss.kind == "sigmoid"

    def probabilities(images: jax.Array) -> jax.Array:
        model = nnx.merge(graphdef, state)  # the state is closed over: its arrays become constants
        inputs = prepare(images if levels else images[:, None])
        scores = score_view(model, inputs, view=view, levels=levels or DEFAULT_LEVELS, model_combines=bool(levels),
                            sigmoid=sigmoid)
        return jax.nn.softmax(metrics.class_logits(scores.logits).astype(jnp.float32) / temperature, axis=-1)

    return probabilities


def _gradcam_fn(run: RestoredRun):
    graphdef, state = nnx.split(run.model)
    prepare = run.prepare()

    def heatmaps(images: jax.Array, classes: jax.Array) -> tuple[jax.Array, jax.Array]:
        cam, _, pool_error = gradcam.cams(graphdef, state, prepare(images), classes)
        return cam.astype(jnp.float32), pool_error

    return heatmaps


def _gradcam_supported(run: RestoredRun) -> str | None:
    """None when Grad-CAM applies to the run's model, else why not."""
    if hasattr(run.model, "levels"):
        return "a pyramid model combines crops: Grad-CAM explains single images"
    if not all(hasattr(run.model, name) for name in ("forward_features", "feature_stage", "head")):
        return f"{type(run.model).__name__} is not a backbone with a feature map"
    return None


def _export(fn, platforms: tuple[str, ...], *args: jax.ShapeDtypeStruct) -> tuple[jax.export.Exported, tuple[str, ...]]:
    try:
        return jax.export.export(jax.jit(fn), platforms=platforms)(*args), platforms
    except Exception:  # noqa: BLE001 - a platform this jax cannot lower for: CPU alone
        return jax.export.export(jax.jit(fn), platforms=("cpu",))(*args), ("cpu",)


def export_run(run: RestoredRun, workdir: str, out: str) -> dict[str, Any]:
    """Writes MODEL_DIR `out` (which must exist and be empty) for the restored `run` of `workdir`;
    returns the manifest (its 'warnings' list says what was left out)."""
    size = int(run.config.data.image_size)
    levels = tuple(int(n) for n in run.model.levels) if hasattr(run.model, "levels") else None
    calibrated = calibrate.temperature(workdir, run.step)
    warnings = [f"temperature 1: {calibrated.note}"] if calibrated.value == 1.0 else []
    if levels:
        crops = sum(n * n for n in levels)
        shape, layout = jax.export.symbolic_shape(f"b, {crops}, {size}, {size}, 3"), "pyramid_crops"
    else:
        shape, layout = jax.export.symbolic_shape(f"b, {size}, {size}, 3"), "NHWC"
    images = jax.ShapeDtypeStruct(shape, jnp.uint8)
    exported, platforms = _export(_probabilities_fn(run, calibrated.value), PLATFORMS, images)
    files = {MODEL_FILE: exported}
    unsupported = _gradcam_supported(run)
    if unsupported is None:
        probe = jax.jit(_gradcam_fn(run))(np.zeros((1, size, size, 3), np.uint8), np.full(1, -1, np.int32))[1]
        if float(probe) > 1e-4:
            unsupported = f"the pooled features are not the spatial mean of the '{run.model.feature_stage}' map"
    if unsupported is None:
        classes = jax.ShapeDtypeStruct(shape[:1], jnp.int32)
        files[GRADCAM_FILE], _ = _export(lambda x, c: _gradcam_fn(run)(x, c)[0], platforms, images, classes)
    else:
        warnings.append(f"no Grad-CAM: {unsupported}")
    for name, serialized in [(name, artifact.serialize()) for name, artifact in files.items()]:
        with open(os.path.join(out, name), "wb") as f:
            f.write(serialized)
    data = run.config.data
    manifest = {
        "format_version": FORMAT_VERSION,
        "model": run.config.model.name,
        "class_names": list(run.class_names),
        "image_size": size,
        "input": {"layout": layout, "dtype": "uint8",
                  "shape": ["b", crops, size, size, 3] if levels else ["b", size, size, 3],
                  "channels": "RGB", "levels": list(levels) if levels else None},
        "output": {"probabilities": "float32 (b, classes): softmax(logits / temperature)",
                   "gradcam": "float32 (b, S, S) in [0, 1] for int32 classes (b,), -1 = the predicted class"
                   if GRADCAM_FILE in files else None},
        "transform": {"preset": data.augment, "image_size": size, "steps": describe_eval(data.augment, size),
                      "pyramid": None if not levels else
                      "artjax.data.views.pyramid_crops(image, size=S, levels): per level n an n x n grid of the "
                      "whole image (edges as grid_edges), each crop resized to S x S with "
                      "cv2.resize(INTER_LINEAR); levels in order, row-major"},
        "normalisation": {**run.model.preprocessing.to_dict(), "done_inside": True},
        "temperature": calibrated.value,
        "temperature_note": calibrated.note,
        "checkpoint": {"step": run.step, "which": run.which, "weights": run.weights},
        "versions": {"artjax": metadata.version("artjax"), "jax": jax.__version__},
        "platforms": list(platforms),
        "files": sorted([*files, MANIFEST_FILE]),
        "warnings": warnings,
    }
    with open(os.path.join(out, MANIFEST_FILE), "w") as f:
        json.dump(manifest, f, indent=1)
    return manifest
