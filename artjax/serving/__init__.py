"""Running an exported model (`python -m artjax.export`) with jax, NumPy and OpenCV: no flax,
no artjax.models. `load(MODEL_DIR)` -> `ExportedModel`."""

from artjax.serving.exported import ExportedModel, load

__all__ = ["ExportedModel", "load"]
