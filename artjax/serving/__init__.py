"""Models at inference: an exported model (`python -m artjax.export`) run with jax, NumPy and
OpenCV, no flax, no artjax.models (`load(MODEL_DIR)` -> `ExportedModel`, exported.py); the web app
(app.py, page.html) over a predictor (predictor.py)."""

from artjax.serving.exported import ExportedModel, load

__all__ = ["ExportedModel", "load"]
