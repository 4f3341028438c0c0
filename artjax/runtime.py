"""Process-level settings that must be in place before JAX is first imported.

On the CPU, XLA's YNNPACK library fusions for matrix products and reductions speed ResNet50 and
EfficientNet train steps by 10-40 % (BENCHMARKS.md; its elementwise fusions help ResNet50 more
but make EfficientNet 2x slower, so they stay off). They also keep both cores of this machine
busy from one XLA device, so artjax leaves JAX's single CPU device alone: splitting the batch
over host devices (`--xla_force_host_platform_device_count`) adds a gradient all-reduce and a
replicated optimiser update, and trains 12-34 % slower (BENCHMARKS.md, host devices; only
EfficientNet-Lite0 trains faster on two, and inference runs up to 1.5x faster on two). The flag
only affects the CPU platform, so GPU/TPU runs are unchanged. A user's own XLA_FLAGS win: the
default is added only if its flag is absent.
"""

from __future__ import annotations

import importlib
import os
import sys
import types

YNN_FUSIONS = "dot,reduce"


def configure_xla_cpu() -> None:
    """Turns on YNNPACK's matrix-product and reduction fusions, unless the user already chose."""
    if "jax" in sys.modules:
        return  # too late to change XLA flags; respect whatever the importer set up
    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_cpu_experimental_ynn_fusion_type" not in flags:
        os.environ["XLA_FLAGS"] = f"{flags} --xla_cpu_experimental_ynn_fusion_type={YNN_FUSIONS}".strip()


def import_without_torch(name: str) -> types.ModuleType:
    """Imports `name` (tensorboardX, albumentations) without the PyTorch it imports only to
    support torch tensors when torch is installed: 1.2-1.4 s of every artjax process's start-up
    for a library artjax never hands a tensor. torch stays importable afterwards; if it is
    already imported, nothing changes. Albumentations' update check, a request to PyPI at
    every import (a 2 s timeout offline), is turned off unless the user set it."""
    os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
    if "torch" in sys.modules:
        return importlib.import_module(name)
    sys.modules["torch"] = None  # `import torch` raises ImportError, which both libraries accept
    try:
        return importlib.import_module(name)
    finally:
        del sys.modules["torch"]
