"""The device mesh: one `data` axis, batch sharded over it, parameters replicated."""

from __future__ import annotations

from typing import Any

import jax
import numpy as np
from absl import logging
from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec as P


def make_mesh(global_batch: int) -> Mesh:
    """A 1-D mesh over the most devices per process that divide the per-process batch.

    Every process contributes the same number of devices, so the program stays identical on
    each host (jax.distributed). Auto axis types on purpose (explicit ones are
    `jax.make_mesh`'s default now): the step slices sharded arrays without explicit
    out-shardings, which explicit axes would demand.
    """
    processes = jax.process_count()
    if global_batch % processes:
        raise ValueError(f"train.batch_size {global_batch} is not divisible by {processes} processes")
    local_batch = global_batch // processes
    local = jax.local_device_count()
    per_process = max(d for d in range(1, local + 1) if local_batch % d == 0)
    if per_process < local:
        logging.warning("using %d of %d local devices: batch %d per process is not divisible by %d",
                        per_process, local, local_batch, local)
    by_process: dict[int, list] = {}
    for device in jax.devices():
        by_process.setdefault(device.process_index, []).append(device)
    devices = [d for p in sorted(by_process) for d in by_process[p][:per_process]]
    return Mesh(np.array(devices), ("data",), axis_types=(AxisType.Auto,))


def batch_sharding(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, P("data"))


def replicated(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, P())


def replicate(tree: Any, mesh: Mesh) -> Any:
    """Places a host-side pytree (e.g. a fresh train state) on every device of the mesh.

    jax.device_put cannot target devices of other processes; make_array_from_callback can,
    each process providing its own copy. PRNG key arrays travel as their raw key data.
    """
    sharding = replicated(mesh)

    def put(x: Any) -> Any:
        if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
            return jax.random.wrap_key_data(put(jax.random.key_data(x)), impl=jax.random.key_impl(x))
        host = np.asarray(x)
        return jax.make_array_from_callback(host.shape, sharding, lambda index: host[index])

    return jax.tree.map(put, tree)


def to_global(batch: dict[str, np.ndarray], sharding: NamedSharding) -> dict[str, jax.Array]:
    """Assembles each process's local slice of the batch into one globally sharded array."""
    return {k: jax.make_array_from_process_local_data(sharding, v) for k, v in batch.items()}
