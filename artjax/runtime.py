"""Process-level settings that must be in place before JAX is first imported.

On the CPU, one XLA device keeps only ~1.5 cores busy (DESIGN.md section 5); splitting the batch
over several host devices keeps every core busy. XLA:CPU's YNNPACK library fusions for matrix
products and reductions speed ResNet50 and EfficientNet train steps by 10-40 % (BENCHMARKS.md;
its elementwise fusions help ResNet50 more but make EfficientNet 2x slower, so they stay off).
Both flags only affect the CPU platform, so GPU/TPU runs are unchanged (their CPU devices stay
unused). A user's own XLA_FLAGS win: each default is added only if its flag is absent.
"""

from __future__ import annotations

import os
import sys

MAX_HOST_DEVICES = 8


YNN_FUSIONS = "dot,reduce"


def configure_host_devices() -> None:
    """Gives the CPU backend one device per core (at most 8) and YNNPACK's matrix-product and
    reduction fusions, unless the user already chose."""
    if "jax" in sys.modules:
        return  # too late to change XLA flags; respect whatever the importer set up
    flags = os.environ.get("XLA_FLAGS", "")
    defaults = {"xla_force_host_platform_device_count": min(os.cpu_count() or 1, MAX_HOST_DEVICES),
                "xla_cpu_experimental_ynn_fusion_type": YNN_FUSIONS}
    added = [f"--{name}={value}" for name, value in defaults.items() if name not in flags]
    os.environ["XLA_FLAGS"] = " ".join([flags, *added]).strip()
