"""Two local processes started with the coordinator flags (CPU, gloo) train the quickstart's
smoke form through the CLI like one process over two host devices, and leave one set of run
files. The reference has the same global device count: how a batch is partitioned sets the
rounding of its reductions, which 24 steps of SGD with momentum amplify past 1e-5."""

from __future__ import annotations

import json
import os
import pathlib
import re
import socket
import subprocess
import sys

import numpy as np

from artjax import runtime

ROOT = pathlib.Path(__file__).parents[1]
ARGS = ["--config", "experiments/quickstart.py:smoke", "--config.train.epochs=1"]


def _env(devices: int) -> dict[str, str]:
    return {**os.environ, "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}"}


def _files(workdir: pathlib.Path) -> list[str]:
    """The run's files; inside a checkpoint only its step (orbax lays out each process's shards),
    TensorBoard's event files without their time stamp."""
    names = {str(p.relative_to(workdir)) for p in workdir.rglob("*") if p.is_file()}
    steps = {"/".join(n.split("/")[:2]) for n in names if n.startswith("checkpoints/")}
    return sorted([*steps, *(re.sub(r"tfevents\.\d+", "tfevents", n) for n in names if not n.startswith("checkpoints/"))])


def _records(workdir: pathlib.Path) -> list[dict]:
    return [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]


def test_two_processes_train_like_one_process_with_two_devices(tmp_path):
    single = tmp_path / "single"
    done = subprocess.run([sys.executable, "-m", "artjax.main", *ARGS, "--workdir", str(single)], cwd=ROOT,
                          env=_env(2), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]

    pair = tmp_path / "pair"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    procs = [subprocess.Popen([sys.executable, "-m", "artjax.main", *ARGS, "--workdir", str(pair),
                               f"--coordinator_address=127.0.0.1:{port}", "--num_processes=2", f"--process_id={i}"],
                              cwd=ROOT, env=_env(1), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i in range(2)]
    outs = [p.communicate(timeout=600) for p in procs]
    for i, (p, (out, err)) in enumerate(zip(procs, outs)):
        assert p.returncode == 0, f"process {i}: {err[-3000:]}"
        assert f"distributed: process {i} of 2" in out
    assert "accuracy" in outs[0][0] and "accuracy" not in outs[1][0]  # process 0 alone prints the results

    # One set of run files, the same set a single process writes (process 1 adds none).
    assert _files(pair) == _files(single)
    a, b = _records(single), _records(pair)
    assert [(r["split"], r["step"]) for r in a] == [(r["split"], r["step"]) for r in b]
    logged = lambda records: [r for r in records if r["split"] in ("train", "val")]  # noqa: E731
    for key in ("loss", "accuracy"):
        np.testing.assert_allclose([r[key] for r in logged(b)], [r[key] for r in logged(a)], rtol=1e-5, atol=1e-5,
                                   err_msg=key)


def test_the_cluster_environments_jax_detects_count_only_when_they_span_processes():
    assert runtime.detected_cluster({}) is None
    assert runtime.detected_cluster({"SLURM_JOB_ID": "7", "SLURM_NTASKS": "1"}) is None  # one-task job
    assert runtime.detected_cluster({"SLURM_JOB_ID": "7", "SLURM_NTASKS": "4"}) == "Slurm"
    assert runtime.detected_cluster({"OMPI_COMM_WORLD_SIZE": "2"}) == "Open MPI"
    assert runtime.detected_cluster({"TPU_WORKER_HOSTNAMES": "w0"}) is None  # a single TPU VM
    assert runtime.detected_cluster({"TPU_WORKER_HOSTNAMES": "w0,w1"}) == "Cloud TPU (GKE)"


def test_some_of_the_coordinator_flags_are_one_line_with_status_2(tmp_path):
    done = subprocess.run([sys.executable, "-m", "artjax.main", *ARGS, "--workdir", str(tmp_path / "run"),
                           "--coordinator_address=127.0.0.1:1234", "--num_processes=2"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1] == (
        "artjax: --coordinator_address, --num_processes and --process_id go together: give all three")
