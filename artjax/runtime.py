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


def default_cache_dir() -> str:
    """$ARTJAX_CACHE_DIR, else the user's cache directory ($XDG_CACHE_HOME or ~/.cache)/artjax."""
    if os.environ.get("ARTJAX_CACHE_DIR"):
        return os.environ["ARTJAX_CACHE_DIR"]
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "artjax")


def configure_compilation_cache(setting: str) -> str | None:
    """Points JAX's persistent compilation cache at the directory `setting` names (the config's
    `compile_cache`): "auto" = default_cache_dir()/jax, "" = off, anything else a path. A second
    run or a resume of the same config then reads its compiled programs instead of compiling
    them (the quickstart's smoke run: 18.6 s -> 7.3 s, BENCHMARKS.md). Every program is kept, not
    only those over JAX's one-second default: a run compiles a hundred small initialisers and
    metrics that add up. With "auto", a cache the user set up for JAX (JAX_COMPILATION_CACHE_DIR)
    is used as it is; the user's JAX_* cache variables always win over artjax's defaults. The
    cache is not size-bounded (JAX's default; a config's programs take 1-2 MB, the whole test
    suite's 50 MB): JAX's bounded mode breaks on entries an unbounded writer left, so bounding
    is left to the user (JAX_COMPILATION_CACHE_MAX_SIZE on a fresh directory).
    Returns the directory in use, or None when the cache is off."""
    import jax
    from jax.experimental.compilation_cache import compilation_cache

    path = None
    if setting == "auto":
        path = os.environ.get("JAX_COMPILATION_CACHE_DIR") or os.path.join(default_cache_dir(), "jax")
    elif setting:
        path = setting
    path = path and os.path.abspath(os.path.expanduser(path))
    if path and "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS" not in os.environ:
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    if (jax.config.jax_enable_compilation_cache, jax.config.jax_compilation_cache_dir) != (bool(path), path):
        jax.config.update("jax_enable_compilation_cache", bool(path))
        if path:
            compilation_cache.set_cache_dir(path)
        compilation_cache.reset_cache()  # JAX decides once per process whether and where it caches
    return path


# The environment variables JAX's cluster auto-detection (jax._src.clusters, no public API)
# reads, each with the test that the job spans more than one process: a one-task Slurm job or
# a single TPU VM stays a plain single process.
CLUSTERS = {
    "Slurm": lambda env: "SLURM_JOB_ID" in env and int(env.get("SLURM_NTASKS", "1")) > 1,
    "Open MPI": lambda env: int(env.get("OMPI_COMM_WORLD_SIZE", "1")) > 1,
    "Cloud TPU (GKE)": lambda env: "," in env.get("TPU_WORKER_HOSTNAMES", ""),
}


def detected_cluster(env: dict[str, str] | None = None) -> str | None:
    """The name of the multi-process cluster this process was started in, or None."""
    env = dict(os.environ) if env is None else env
    return next((name for name, present in CLUSTERS.items() if present(env)), None)


def initialize_distributed(coordinator_address: str | None = None, num_processes: int | None = None,
                           process_id: int | None = None, *, detect: bool = False) -> str | None:
    """Starts JAX's distributed runtime: on the three given values, else by JAX's own cluster
    detection when `detect` is set (a Cloud TPU VM slice, which no environment variable
    announces) or `detected_cluster` finds one; returns how ('process 0 of 2 (Slurm)'), or None
    for a single process. Call before JAX computes anything. ValueError when only some values
    are given."""
    given = (coordinator_address, num_processes, process_id)
    if any(v is not None for v in given) and not all(v is not None for v in given):
        raise ValueError("--coordinator_address, --num_processes and --process_id go together: give all three")
    cluster = None if coordinator_address else detected_cluster() or ("detected by JAX" if detect else None)
    if coordinator_address is None and cluster is None:
        return None
    import jax

    jax.config.update("jax_cpu_collectives_implementation", "gloo")  # CPU collectives across processes
    if coordinator_address:
        jax.distributed.initialize(coordinator_address, num_processes=num_processes, process_id=process_id)
    else:
        jax.distributed.initialize()
    return f"process {jax.process_index()} of {jax.process_count()} ({cluster or coordinator_address})"
