"""A run's model as a self-contained `jax.export` artifact (MODEL_DIR), loadable with jax alone.

MODEL_DIR/model.jaxexport maps uint8 images (b, S, S, 3) (a pyramid model: its pyramid crops
(b, crops, S, S, 3), cut on the host by `artjax.data.views.pyramid_crops`) to float32 class
probabilities (b, classes) and float32 unit embeddings (b, width): the model's normalisation,
forward pass and the calibrated softmax softmax(logits / T) inside, the parameters baked in as
constants. The batch dimension is symbolic. The embedding is a second output of the same program,
not a file of its own: a program holds its parameters, so a separate embed.jaxexport would store
them twice (resnet_mini 1.3 MB, ResNet50 ~100 MB more), and XLA computes the pooled features
once for both outputs anyway.
gradcam.jaxexport (not for pyramid models) maps the same images and int32 classes (b,) (-1: the
predicted class) to Grad-CAM heatmaps (b, S, S) in [0, 1]. manifest.json says how to prepare an
image (the evaluation transform's steps) and what the outputs mean; `artjax.serving` reads it.

When the run's gallery (DIR/gallery.npz, artjax/runs/gallery.py) was embedded by the exported
checkpoint through the export's view, MODEL_DIR also gets gallery.npz (embeddings, labels, ids)
and thumbnails/{id}.jpg (at most 128 px on the longest side) of the works the training source
still holds under the recorded record ids; a stale gallery is left out with a warning.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from importlib import metadata
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from absl import logging
from flax import nnx

from artjax.data import catalog
from artjax.data.augment import describe_eval
from artjax.eval import gradcam, metrics, views
from artjax.eval.gallery import Gallery
from artjax.eval.scoring import embed_view, score_view
from artjax.models.pyramid import DEFAULT_LEVELS
from artjax.runs import calibrate
from artjax.runs import gallery as run_gallery
from artjax.runs.restore import RestoredRun

FORMAT_VERSION = 1
MODEL_FILE, GRADCAM_FILE, MANIFEST_FILE = "model.jaxexport", "gradcam.jaxexport", "manifest.json"
GALLERY_FILE, THUMBNAILS = "gallery.npz", "thumbnails"
PLATFORMS = ("cpu", "cuda")  # lowering for CUDA needs no GPU here; a GPU machine runs the same file


def export_view(run: RestoredRun) -> str:
    """The view the exported program sees an image through: the whole image, or a pyramid
    model's pyramid."""
    return "pyramid" if hasattr(run.model, "levels") else "full"


def probabilities_fn(run: RestoredRun, temperature: float) -> Callable[[jax.Array], tuple[jax.Array, jax.Array]]:
    """The function model.jaxexport holds: uint8 images -> (probabilities softmax(logits / T),
    unit embeddings), the parameters closed over (also the input of an ONNX conversion)."""
    graphdef, state = nnx.split(run.model)
    levels = tuple(run.model.levels) if hasattr(run.model, "levels") else None
    view = views.get(export_view(run))
    prepare, sigmoid = run.prepare(), run.config.loss.kind == "sigmoid"

    def probabilities(images: jax.Array) -> tuple[jax.Array, jax.Array]:
        model = nnx.merge(graphdef, state)  # the state is closed over: its arrays become constants
        inputs = prepare(images if levels else images[:, None])
        scores = score_view(model, inputs, view=view, levels=levels or DEFAULT_LEVELS, model_combines=bool(levels),
                            sigmoid=sigmoid)
        embedding = embed_view(model, inputs, view=view, levels=levels or DEFAULT_LEVELS, model_combines=bool(levels))
        probs = jax.nn.softmax(metrics.class_logits(scores.logits).astype(jnp.float32) / temperature, axis=-1)
        return probs, embedding.astype(jnp.float32)

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


def _export(fn: Callable, platforms: tuple[str, ...], warnings: list[str],
            *args: jax.ShapeDtypeStruct) -> tuple[jax.export.Exported, tuple[str, ...]]:
    """`fn` exported for `platforms`, or for the CPU alone (a warning appended) when this jax
    cannot lower it for one of them."""
    try:
        return jax.export.export(jax.jit(fn), platforms=platforms)(*args), platforms
    except Exception as error:  # noqa: BLE001 - whatever the lowering for another platform raises
        reason = " ".join(str(error).split())[:200]
        warnings.append(f"exported for cpu only: lowering for {', '.join(platforms)} failed "
                        f"({type(error).__name__}: {reason})")
        return jax.export.export(jax.jit(fn), platforms=("cpu",))(*args), ("cpu",)


def _write_gallery(run: RestoredRun, gallery: Gallery, out: str, warnings: list[str]) -> dict[str, Any]:
    """MODEL_DIR's gallery.npz and thumbnails; returns the manifest's 'gallery' entry. A work
    whose image cannot be read, or whose record id in the training source is no longer the
    one recorded, gets no thumbnail (logged, counted in a warning)."""
    ids = np.arange(len(gallery), dtype=np.int64)
    np.savez(os.path.join(out, GALLERY_FILE), embeddings=gallery.embeddings.astype(np.float32),
             labels=gallery.labels.astype(np.int64), ids=ids)
    os.makedirs(os.path.join(out, THUMBNAILS))
    missing = []
    try:
        train = catalog.open_sources(run.config.data)[0]
    except (OSError, ValueError) as error:  # the training data moved or changed since the run
        warnings.append(f"no thumbnails: the training source does not open ({error})")
        train = None
    for i in ids if train is not None else ():
        try:
            image = run_gallery.work_image(train, gallery, int(i))
        except (*catalog.READ_ERRORS, OSError, ValueError) as error:
            logging.warning("export: no thumbnail for gallery work %d (%s): %s", i, gallery.paths[i], error)
            missing.append(int(i))
            continue
        with open(os.path.join(out, THUMBNAILS, f"{i}.jpg"), "wb") as f:
            f.write(run_gallery.thumbnail_jpeg(image))
    if train is not None and missing:
        warnings.append(f"{len(missing)} of {len(ids)} gallery works have no thumbnail (unreadable), e.g. id "
                        f"{missing[0]} ({gallery.paths[missing[0]]})")
    return {"file": GALLERY_FILE, "works": len(gallery), "width": int(gallery.embeddings.shape[1]),
            "view": gallery.view, "checkpoint_step": gallery.checkpoint_step, "metric": "cosine",
            "search": "exact (artjax.eval.gallery.exact_search), ties to the lower id",
            "thumbnails": THUMBNAILS, "thumbnails_missing": missing}


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
    exported, platforms = _export(probabilities_fn(run, calibrated.value), PLATFORMS, warnings, images)
    files = {MODEL_FILE: exported}
    unsupported = _gradcam_supported(run)
    if unsupported is None:
        probe = jax.jit(_gradcam_fn(run))(np.zeros((1, size, size, 3), np.uint8), np.full(1, -1, np.int32))[1]
        if float(probe) > 1e-4:
            unsupported = f"the pooled features are not the spatial mean of the '{run.model.feature_stage}' map"
    if unsupported is None:
        classes = jax.ShapeDtypeStruct(shape[:1], jnp.int32)
        files[GRADCAM_FILE], _ = _export(lambda x, c: _gradcam_fn(run)(x, c)[0], platforms, warnings, images, classes)
    else:
        warnings.append(f"no Grad-CAM: {unsupported}")
    for name, serialized in [(name, artifact.serialize()) for name, artifact in files.items()]:
        with open(os.path.join(out, name), "wb") as f:
            f.write(serialized)
    try:
        gallery = run_gallery.load(workdir, step=run.step, view=export_view(run))
    except run_gallery.StaleGallery as error:
        warnings.append(f"no gallery: {error}")
        gallery = None
    gallery_entry = _write_gallery(run, gallery, out, warnings) if gallery is not None else None
    data = run.config.data
    manifest = {
        "format_version": FORMAT_VERSION,
        "model": run.config.model.name,
        "class_names": list(run.class_names),
        "image_size": size,
        "input": {"layout": layout, "dtype": "uint8",
                  "shape": ["b", crops, size, size, 3] if levels else ["b", size, size, 3],
                  "channels": "RGB", "levels": list(levels) if levels else None},
        "output": {"probabilities": "float32 (b, classes): softmax(logits / temperature), model.jaxexport's first output",
                   "embedding": "float32 (b, width): the unit pooled features, model.jaxexport's second output",
                   "gradcam": "float32 (b, S, S) in [0, 1] for int32 classes (b,), -1 = the predicted class"
                   if GRADCAM_FILE in files else None},
        "transform": {"preset": data.augment, "image_size": size, "steps": describe_eval(data.augment, size),
                      "pyramid": None if not levels else
                      "artjax.data.views.pyramid_crops(image, size=S, levels): per level n an n x n grid of the "
                      "whole image (edges as grid_edges), each crop resized to S x S with "
                      "cv2.resize(INTER_LINEAR); levels in order, row-major"},
        "normalisation": {**run.model.preprocessing.to_dict(), "done_inside": True},
        "decoding": {"max_pixels": int(data.max_pixels), "decode_short_side": int(data.decode_short_side or 0)},
        "temperature": calibrated.value,
        "temperature_note": calibrated.note,
        "checkpoint": {"step": run.step, "which": run.which, "weights": run.weights},
        "versions": {"artjax": metadata.version("artjax"), "jax": jax.__version__},
        "platforms": list(platforms),
        "gallery": gallery_entry,
        "files": sorted([*files, MANIFEST_FILE] + ([GALLERY_FILE, THUMBNAILS + "/"] if gallery_entry else [])),
        "warnings": warnings,
    }
    with open(os.path.join(out, MANIFEST_FILE), "w") as f:
        json.dump(manifest, f, indent=1)
    return manifest
