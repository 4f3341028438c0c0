"""The artjax weight directory: writing it and loading it into a model.

Layout of a weight directory DIR:
  DIR/artjax_weights.json  {"arch", "source", "num_classes", "head", "preprocessing", "format"}
  DIR/state/               orbax checkpoint of a nested dict {stage: {...: array}} holding every
                           nnx.Param and nnx.BatchStat, keyed by the model's nnx path (list
                           indices as strings).

This module knows nothing about architectures and imports no model code:
`artjax.models.create(..., weights=DIR)` calls `build_loaded`, and the converter
(artjax/models/convert.py) calls `save`.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp
from flax import nnx

from artjax import literal_paths

literal_paths.install()

FORMAT = 1
METADATA = "artjax_weights.json"
STATE = "state"

log = logging.getLogger(__name__)


def model_arrays(model: nnx.Module) -> dict[str, Any]:
    """{'stage1/0/conv/kernel': array, ...} for every Param and BatchStat of `model` (abstract
    shapes for a model built under nnx.eval_shape)."""
    return {_path_str(p): v.get_value()
            for p, v in nnx.to_flat_state(nnx.state(model, (nnx.Param, nnx.BatchStat)))}


def save(arrays: Mapping[str, np.ndarray], directory: str, *, arch: str, source: str,
         num_classes: int, head: Mapping[str, Any], preprocessing: Mapping[str, Any]) -> None:
    """Writes `arrays` (flat '/'-joined nnx paths -> arrays) and metadata to `directory`;
    `preprocessing` is the model's `Preprocessing.to_dict()`."""
    directory = os.path.abspath(directory)
    os.makedirs(directory, exist_ok=True)
    if os.path.exists(os.path.join(directory, STATE)):
        raise FileExistsError(f"{directory} already holds artjax weights; choose a new directory")
    with _checkpointer() as ckpt:
        ckpt.save(os.path.join(directory, STATE), args=ocp.args.PyTreeSave(_unflatten(arrays)))
    meta = {"format": FORMAT, "arch": arch, "source": source, "num_classes": int(num_classes),
            "head": dict(head), "preprocessing": dict(preprocessing)}
    with open(os.path.join(directory, METADATA), "w") as f:
        json.dump(meta, f, indent=2)


def _checkpointer() -> ocp.Checkpointer:
    # Uncompressed: trained weights barely compress (~8 %) and zstd costs more time than that.
    return ocp.Checkpointer(ocp.PyTreeCheckpointHandler(use_compression=False))


def read_metadata(directory: str) -> dict[str, Any]:
    """The artjax_weights.json of a weight directory (FileNotFoundError / ValueError if bad)."""
    path = os.path.join(directory, METADATA)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{directory} is not an artjax weight directory (no {METADATA}); "
                                "create one with `python -m artjax.weights convert`")
    with open(path) as f:
        try:
            meta = json.load(f)
        except json.JSONDecodeError as e:
            raise ValueError(f"{path} is not valid JSON: {e}") from None
    if meta.get("format") != FORMAT:
        raise ValueError(f"{path}: unsupported weight format {meta.get('format')!r} "
                         f"(this artjax reads format {FORMAT})")
    return meta


def read_arrays(directory: str) -> dict[str, np.ndarray]:
    """The stored arrays of a weight directory, flat by nnx path."""
    path = os.path.join(os.path.abspath(directory), STATE)
    if not os.path.isdir(path):
        raise FileNotFoundError(f"{directory} has no {STATE}/ checkpoint: an incomplete artjax "
                                "weight directory")
    with _checkpointer() as ckpt:
        return _flatten(ckpt.restore(path))


def build_loaded(build: Callable[[], nnx.Module], directory: str, *, arch: str | None = None,
                 reinit_head: bool = False) -> tuple[nnx.Module, dict[str, Any]]:
    """(`build()` with the weights of `directory` loaded, the directory's metadata).

    Every non-head array must match the model's (one ValueError lists missing, unexpected and
    mis-shaped paths). The head, unless `reinit_head` starts all of it fresh:
    - same paths and shapes as the stored head: loaded whole;
    - a 'logits' head whose `imagenet` part matches the stored head: the stored head goes there,
      the Linear above it is new;
    - the stored head's kind with another class count: every layer is loaded except those whose
      last axis is the class count (torchvision practice: VGG's and AlexNet's two 4096-wide
      layers are kept, the last Linear replaced);
    - otherwise the whole head is fresh.
    The log names the new layers. The caller applies `meta['preprocessing']` (this module knows
    no model class).

    Only the initial values the weights do not replace are computed: the construction runs
    under jax.jit and XLA drops the unused random initialisers (seconds for VGG's 100M-weight
    classifier).
    """
    abstract = nnx.eval_shape(build)
    arrays, meta = _plan(abstract, directory, arch, reinit_head)

    def fresh():
        return {key: v for key, v in ((_path_str(p), v)
                                      for p, v in nnx.to_flat_state(nnx.state(build())))
                if key not in arrays}

    graphdef, state = nnx.split(abstract)
    initial = jax.jit(fresh)()
    leaves = []
    for path, var in nnx.to_flat_state(state):
        key = _path_str(path)
        leaves.append((path, var.replace(jnp.asarray(arrays[key], var.dtype))
                       if key in arrays else initial[key]))
    return nnx.merge(graphdef, nnx.from_flat_state(leaves)), meta


def _plan(model: nnx.Module, directory: str, arch: str | None,
          reinit_head: bool) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Which stored arrays go where in `model` (flat path -> array), and the metadata."""
    meta = read_metadata(directory)
    if arch is not None and meta["arch"] != arch:
        raise ValueError(f"{directory} holds weights for {meta['arch']!r}, not {arch!r}")
    stored = read_arrays(directory)
    target = model_arrays(model)

    body_t = {k: v for k, v in target.items() if not k.startswith("head/")}
    body_s = {k: v for k, v in stored.items() if not k.startswith("head/")}
    check_match(body_s, body_t, what=f"weights in {directory}")
    loaded = dict(body_s)

    head_s = {k: v for k, v in stored.items() if k.startswith("head/")}
    head_t = {k: v for k, v in target.items() if k.startswith("head/")}
    as_imagenet = {"head/imagenet/" + k[len("head/"):]: v for k, v in head_s.items()}
    stored_head = f"a {meta['num_classes']}-class {meta['head'].get('kind')!r} head"
    if reinit_head:
        log.info("Head re-initialised as asked (reinit_head), although %s holds %s: new %s.",
                 directory, stored_head, _layers(head_t))
    elif _same_shapes(head_s, head_t):
        loaded.update(head_s)
    elif _same_shapes(as_imagenet, {k: v for k, v in head_t.items() if k in as_imagenet}):
        loaded.update(as_imagenet)
        log.info("Loaded the stored %d-class head of %s into head/imagenet; new for %d classes: "
                 "%s.", meta["num_classes"], meta["arch"], model.num_classes,
                 _layers({k: v for k, v in head_t.items() if k not in as_imagenet}))
    else:
        kept = _kept_for_new_class_count(head_s, head_t, meta, model)
        if kept is None:
            kept = {}
            log.warning("Head re-initialised: the weights in %s have %s, the model a %d-class "
                        "%r head; all other layers are loaded.", directory, stored_head,
                        model.num_classes, model.head_spec.get("kind"))
        else:
            log.warning("Head re-initialised for %d classes (the weights in %s have %s): new %s; "
                        "loaded %s.", model.num_classes, directory, stored_head,
                        _layers({k: v for k, v in head_t.items() if k not in kept}),
                        _layers(kept) if kept else "no head layer")
        loaded.update(kept)
    return loaded, meta


def _kept_for_new_class_count(head_s: Mapping[str, Any], head_t: Mapping[str, Any],
                              meta: Mapping[str, Any], model: nnx.Module) -> dict[str, Any] | None:
    """The stored head arrays that survive a change of class count, or None when the heads
    differ otherwise (another kind, other paths, or a shape change beyond the class axis)."""
    if meta["head"].get("kind") != model.head_spec.get("kind") or set(head_s) != set(head_t):
        return None
    kept = {}
    for key, value in head_s.items():
        old, new = tuple(np.shape(value)), tuple(np.shape(head_t[key]))
        if old == new:
            kept[key] = value
        elif (old[:-1], old[-1:], new[-1:]) != (new[:-1], (meta["num_classes"],),
                                                 (model.num_classes,)):
            return None
    return kept


def _layers(arrays: Mapping[str, Any]) -> str:
    """'head/fc1, head/fc2': the modules (array paths without their last part) of `arrays`."""
    return ", ".join(sorted({k.rsplit("/", 1)[0] for k in arrays}))


def check_match(found: Mapping[str, Any], expected: Mapping[str, Any], *, what: str) -> None:
    """Raises ONE ValueError listing missing, unexpected and mis-shaped paths of `found`."""
    missing = sorted(set(expected) - set(found))
    unexpected = sorted(set(found) - set(expected))
    misshaped = [f"{k} {tuple(np.shape(found[k]))} != {tuple(np.shape(expected[k]))}"
                 for k in sorted(set(found) & set(expected))
                 if tuple(np.shape(found[k])) != tuple(np.shape(expected[k]))]
    if missing or unexpected or misshaped:
        raise ValueError(f"{what} do not fit the model: " + "; ".join(
            f"{label} ({len(items)}): {short_list(items)}"
            for label, items in [("missing", missing), ("unexpected", unexpected),
                                 ("mis-shaped", misshaped)] if items))


def short_list(items: list[str], limit: int = 8) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f", ... and {len(items) - limit} more" if len(items) > limit else "")


def _same_shapes(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    return bool(a) and set(a) == set(b) and all(np.shape(a[k]) == np.shape(b[k]) for k in a)


def _flatten(tree: Mapping[Any, Any], prefix: str = "") -> dict[str, Any]:
    flat = {}
    for key, value in tree.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(_flatten(value, path + "/"))
        else:
            flat[path] = value
    return flat


def _unflatten(flat: Mapping[str, Any]) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for path, value in flat.items():
        *parents, leaf = path.split("/")
        node = tree
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = np.asarray(value)
    return tree


def _path_str(path: tuple[Any, ...]) -> str:
    return "/".join(str(k) for k in path)
