"""artjax against PyTorch on this machine: `python -m benchmarks --list`; see BENCHMARKS.md."""
