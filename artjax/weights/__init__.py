"""artjax weight directories: convert PyTorch state dicts once, load them into models.

- `load_into(model, DIR)`, `save(...)`, `read_metadata(DIR)`: the directory format (store.py);
  `artjax.models.create(name, weights=DIR)` calls `load_into`.
- `python -m artjax.weights convert --arch NAME --source torchvision --input FILE --output DIR`
  (convert.py) maps a torchvision / timm / lukemelas state dict onto an artjax model through the
  family's key map in `artjax/weights/keymaps/<family>.py` (see keymaps/__init__.py to add one).
"""

from artjax.weights.store import load_into, read_metadata, save

__all__ = ["load_into", "read_metadata", "save"]
