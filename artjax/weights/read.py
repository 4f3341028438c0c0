"""Reading PyTorch state dicts safely: `.safetensors`, or `.pth`/`.pt`/`.bin` through
`torch.load(weights_only=True)`, which refuses pickles holding anything but tensors and
containers, so no code in a weight file ever runs."""

from __future__ import annotations

import os
import pickle
from collections.abc import Mapping
from typing import Any

import numpy as np

StateDict = dict[str, np.ndarray]


def read_state_dict(path: str) -> StateDict:
    """{torch key: float32/int numpy array}; FileNotFoundError / ValueError on bad files."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"weight file not found: {path}")
    raw = _read_safetensors(path) if path.endswith(".safetensors") else _read_pickle(path)
    return _to_numpy(_unwrap(raw, path), path)


def _read_safetensors(path: str) -> Mapping[str, Any]:
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    try:
        return load_file(path)
    except TypeError:  # numpy lacks bfloat16; JAX reads it (ml_dtypes) and widens to float32
        from safetensors.flax import load_file as load_jax

        return {k: np.asarray(v, np.float32) for k, v in load_jax(path).items()}
    except (SafetensorError, OSError, ValueError) as e:
        raise ValueError(f"cannot read {path}: not a valid safetensors file ({e})") from None


def _read_pickle(path: str) -> Mapping[str, Any]:
    try:
        import torch
    except ImportError:
        raise ValueError(f"reading {path} needs PyTorch (pip install torch), or convert the file "
                         "to .safetensors") from None
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        reason = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
        raise ValueError(f"refusing {path}: it is a pickle holding Python objects other than "
                         f"tensors, which artjax never unpickles ({reason})") from None
    except (RuntimeError, EOFError, OSError, ValueError) as e:
        raise ValueError(f"cannot read {path}: not a complete PyTorch weight file (truncated "
                         f"or corrupt: {str(e).strip().splitlines()[0]})") from None


def _unwrap(obj: Any, path: str) -> Mapping[str, Any]:
    # Training checkpoints wrap the weights ({'state_dict': ...} / {'model': ...}) and
    # DataParallel prefixes every key with 'module.'.
    if isinstance(obj, Mapping):
        for key in ("state_dict", "model"):
            if isinstance(obj.get(key), Mapping):
                obj = obj[key]
                break
    if not isinstance(obj, Mapping) or not obj:
        raise ValueError(f"{path} does not hold a state dict (a mapping of names to tensors)")
    if all(k.startswith("module.") for k in obj):
        obj = {k[len("module."):]: v for k, v in obj.items()}
    return obj


def _to_numpy(sd: Mapping[str, Any], path: str) -> StateDict:
    out = {}
    for key, value in sd.items():
        if hasattr(value, "detach"):  # torch.Tensor; bfloat16/float16 become float32
            value = value.detach().cpu()
            value = (value.float() if value.is_floating_point() else value).numpy()
        if not isinstance(value, np.ndarray):
            raise ValueError(f"{path}: entry {key!r} is a {type(value).__name__}, not a tensor")
        if np.issubdtype(value.dtype, np.floating):
            value = value.astype(np.float32, copy=False)
        out[key] = value
    return out
