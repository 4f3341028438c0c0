"""Convert a PyTorch state dict into an artjax weight directory (`python -m artjax.weights
convert`).

`convert(arch, source, input, output)` = read the file safely (artjax.weights.read) -> rename and
transpose every tensor through the family's KeyMap (artjax/models/keymaps/<family>.py) -> check
it against the shapes of `create(arch)` with its default head -> save (artjax.weights.store).
"""

from __future__ import annotations

from flax import nnx

from artjax.models import keymaps
from artjax.models.registry import create, get_spec
from artjax.weights import store
from artjax.weights.keymap import map_state_dict
from artjax.weights.read import read_state_dict

SOURCES = ("torchvision", "timm", "lukemelas")


def convert(arch: str, source: str, input_path: str, output_dir: str,
            num_classes: int | None = None) -> dict:
    """Converts `input_path` (a `source` state dict of `arch`) into `output_dir`.

    num_classes: the head's class count; default = read from the file's classifier weight.
    Returns the written metadata. Raises FileNotFoundError / ValueError on bad input.
    """
    if source not in SOURCES:
        raise ValueError(f"unknown weight source {source!r}; expected one of {', '.join(SOURCES)}")
    spec = get_spec(arch)
    keymap = keymaps.get(spec.family, arch, source)
    sd = keymap.prepared(read_state_dict(input_path))
    if num_classes is None:
        if keymap.classifier not in sd:
            raise ValueError(f"{input_path} has no {keymap.classifier!r}: not a {source} {arch} "
                             "state dict (or pass --num-classes)")
        num_classes = int(sd[keymap.classifier].shape[0])
    abstract = nnx.eval_shape(lambda: create(arch, num_classes=num_classes))
    target = {k: tuple(v.shape) for k, v in store.model_arrays(abstract).items()}
    arrays = map_state_dict(sd, keymap, target,
                            what=f"{input_path} is not a {source} {arch} state dict")
    store.save(arrays, output_dir, arch=arch, source=source, num_classes=num_classes,
               head=abstract.head_spec, preprocessing=spec.preprocessing.to_dict())
    return store.read_metadata(output_dir)
