"""Runs 5 train steps of a small ResNet on a fixed batch sequence and saves losses + parameters.

    python sharded_run.py OUT.npz DEVICES

DEVICES is a host device count (1 is JAX's own CPU default) or 'artjax' (the CPU defaults
artjax's CLIs apply, artjax.runtime). Used by test_sharding.py in subprocesses,
since XLA's host device count must be set before JAX starts.
"""

import os
import sys

from artjax import runtime

out, devices = sys.argv[1], sys.argv[2]
os.environ.pop("XLA_FLAGS", None)
if devices == "artjax":
    runtime.configure_xla_cpu()
else:
    os.environ["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={int(devices)}"


import numpy as np  # noqa: E402
from flax import nnx  # noqa: E402

from artjax.config import defaults  # noqa: E402
from artjax.train import mesh as mesh_lib  # noqa: E402
from artjax.train.trainer import make_trainer  # noqa: E402

BATCH, STEPS, CLASSES = 8, 5, 4
config = defaults()
config.model.name = "resnet_mini"
config.train.batch_size = BATCH
config.optimizer.momentum = 0.9
config.optimizer.learning_rate = 0.02
config.mix.prob, config.mix.cutmix_alpha = 0.5, 1.0  # on-device mixing must be invariant too
trainer = make_trainer(config, num_classes=CLASSES, steps_per_epoch=STEPS)
state, mesh = trainer.state, trainer.mesh
rng = np.random.default_rng(0)
images = rng.integers(0, 256, size=(STEPS, BATCH, 16, 16, 3), dtype=np.uint8)
labels = rng.integers(0, CLASSES, size=(STEPS, BATCH)).astype(np.int32)
losses = []
for i in range(STEPS):
    batch = {"image": images[i], "label": labels[i]}
    state, metrics = trainer.train_step(state, mesh_lib.to_global(batch, trainer.batch_sharding))
    losses.append(float(metrics["loss"]))
model_state = nnx.to_flat_state(state[0])
arrays = {"/".join(map(str, path)): np.asarray(v.get_value().addressable_shards[0].data)
          for path, v in model_state if isinstance(v, (nnx.Param, nnx.BatchStat))}
np.savez(out, losses=np.array(losses), mesh_devices=mesh.devices.size, **arrays)
