"""Serving trained models: the web app (app.py, page.html) over a predictor (predictor.py)."""
