"""Process-level settings that must be in place before JAX is first imported.

On the CPU, one XLA device keeps only ~1.5 cores busy (DESIGN.md section 5); splitting the batch
over several host devices keeps every core busy. `--xla_force_host_platform_device_count` only
affects the CPU platform, so GPU/TPU runs are unchanged (their CPU devices stay unused).
"""

from __future__ import annotations

import os
import sys

MAX_HOST_DEVICES = 8


def configure_host_devices() -> None:
    """Gives the CPU backend one device per core (at most 8) unless the user already chose."""
    if "jax" in sys.modules:
        return  # too late to change XLA flags; respect whatever the importer set up
    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_force_host_platform_device_count" in flags:
        return
    count = min(os.cpu_count() or 1, MAX_HOST_DEVICES)
    os.environ["XLA_FLAGS"] = f"{flags} --xla_force_host_platform_device_count={count}".strip()
