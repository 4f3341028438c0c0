"""Convert a PyTorch state dict into an artjax weight directory.

`convert(arch, source, input, output)` = read the file safely (read.py) -> rename and transpose
every tensor through the family's KeyMap (keymaps/) -> check it against the shapes of
`artjax.models.create(arch)` with its default head -> save (store.py).
"""

from __future__ import annotations

import numpy as np
from flax import nnx

from artjax import models
from artjax.weights import keymaps, store
from artjax.weights.read import read_state_dict

SOURCES = ("torchvision", "timm", "lukemelas")

# torch parameter name -> candidate nnx leaf names, first one the target module has wins.
_LEAVES = {"weight": ("kernel", "scale"), "bias": ("bias",), "running_mean": ("mean",),
           "running_var": ("var",)}
_DROPPED_LEAVES = ("num_batches_tracked",)


def map_state_dict(sd: dict[str, np.ndarray], keymap: keymaps.KeyMap,
                   target: dict[str, tuple[int, ...]], *, what: str) -> dict[str, np.ndarray]:
    """Renames and transposes `sd` onto `target` (nnx path -> shape); one ValueError lists every
    unmapped, missing and mis-shaped key."""
    out: dict[str, np.ndarray] = {}
    seen: set[str] = set()
    unexpected, misshaped = [], []
    for key, value in sd.items():
        module, _, leaf = key.rpartition(".")
        if leaf in _DROPPED_LEAVES:
            continue
        try:
            prefix = keymap.module_path(module)
        except KeyError:
            unexpected.append(key)
            continue
        if prefix is None:
            continue
        name = next((c for c in _LEAVES.get(leaf, ()) if f"{prefix}/{c}" in target), leaf)
        path = f"{prefix}/{name}"
        if path not in target or path in seen:
            unexpected.append(key)
            continue
        seen.add(path)
        array = _to_flax(value, name, target[path])
        if array.shape != target[path]:
            misshaped.append(f"{key} {tuple(value.shape)} -> {path} {target[path]}")
            continue
        # Contiguous copies: orbax writes strided (transposed) views several times slower.
        out[path] = np.ascontiguousarray(array)
    missing = sorted(set(target) - seen)
    if unexpected or missing or misshaped:
        parts = [f"{label} ({len(items)}): {store.short_list(items)}"
                 for label, items in [("unexpected keys", unexpected),
                                      ("missing parameters", missing),
                                      ("mis-shaped", misshaped)] if items]
        raise ValueError(f"{what}: " + "; ".join(parts))
    return out


def _to_flax(value: np.ndarray, leaf: str, target_shape: tuple[int, ...]) -> np.ndarray:
    if leaf != "kernel":
        return value
    if value.ndim == 4 and len(target_shape) == 2 and value.shape[2:] == (1, 1):
        return value[:, :, 0, 0].T  # 1x1 conv weights onto a Linear
    if value.ndim == 4:
        return value.transpose(2, 3, 1, 0)  # OIHW -> HWIO (depthwise: (C,1,h,w) -> (h,w,1,C))
    if value.ndim == 2:
        return value.T  # (out, in) -> (in, out)
    return value


def convert(arch: str, source: str, input_path: str, output_dir: str,
            num_classes: int | None = None) -> dict:
    """Converts `input_path` (a `source` state dict of `arch`) into `output_dir`.

    num_classes: the head's class count; default = read from the file's classifier weight.
    Returns the written metadata. Raises FileNotFoundError / ValueError on bad input.
    """
    if source not in SOURCES:
        raise ValueError(f"unknown weight source {source!r}; expected one of {', '.join(SOURCES)}")
    spec = models.get_spec(arch)
    keymap = keymaps.get(spec.family, arch, source)
    sd = read_state_dict(input_path)
    if keymap.prepare is not None:
        sd = keymap.prepare(sd)
    if num_classes is None:
        if keymap.classifier not in sd:
            raise ValueError(f"{input_path} has no {keymap.classifier!r}: not a {source} {arch} "
                             "state dict (or pass --num-classes)")
        num_classes = int(sd[keymap.classifier].shape[0])
    abstract = nnx.eval_shape(lambda: models.create(arch, num_classes=num_classes))
    target = {k: tuple(v.shape) for k, v in store.model_arrays(abstract).items()}
    arrays = map_state_dict(sd, keymap, target,
                            what=f"{input_path} is not a {source} {arch} state dict")
    preprocessing = keymap.preprocessing or spec.preprocessing
    store.save(arrays, output_dir, arch=arch, source=source, num_classes=num_classes,
               head=abstract.head_spec, preprocessing=preprocessing)
    return store.read_metadata(output_dir)

