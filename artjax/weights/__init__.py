"""artjax weight directories, and the generic machinery that fills them from PyTorch files.

- store.py: the directory format. `save(...)`, `read_metadata(DIR)`, and `build_loaded(build,
  DIR)`, which `artjax.models.create(name, weights=DIR)` calls.
- read.py: reading a .pth (torch.load with weights_only=True) or .safetensors state dict.
- keymap.py: `KeyMap` (regex rules from torch module names to nnx paths) and `map_state_dict`
  (rename + transpose onto a model's shapes).

Nothing here imports model code. Each family's key map lives beside it in
artjax/models/keymaps/<family>.py, and the converter that needs `artjax.models.create` in
artjax/models/convert.py, run as
`python -m artjax.weights convert --arch NAME --source torchvision --input FILE --output DIR`.
"""

from artjax.weights.store import read_metadata, save

__all__ = ["read_metadata", "save"]
