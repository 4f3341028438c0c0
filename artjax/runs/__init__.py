"""A run directory as a whole, for every CLI and notebook: restoring its model (restore.py),
the end-of-run work (finish.py: method figures, then the report) and the report (report.py)."""
