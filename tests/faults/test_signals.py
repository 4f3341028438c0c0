"""Faults that kill or stop the CLI: one run with two grain workers is struck five times
(SIGKILL before its first checkpoint, SIGKILL during a save, a double Ctrl-C, SIGTERM
mid-epoch, a damaged newest checkpoint) and each time the same command carries on; it ends
bitwise equal to an uninterrupted run without workers. No process of a struck run outlives it."""

from __future__ import annotations

import json
import os
import pathlib
import signal
import subprocess
import sys
import time

import jax
import numpy as np
from flax import nnx

from artjax.runs.restore import load_run

ROOT = pathlib.Path(__file__).parents[2]
SMOKE = str(ROOT / "experiments" / "quickstart.py") + ":smoke"
# 6 steps per epoch (96 paintings, batch 16), 12 in all; a checkpoint every 2 steps, all kept.
ARGS = ["--config.train.epochs=2", "--config.checkpoint.every_steps=2", "--config.checkpoint.keep=50",
        "--config.mix.prob=0.5", "--config.mix.cutmix_alpha=1.0", "--config.train.log_every_steps=1"]


def _command(workdir: pathlib.Path, workers: int = 2) -> list[str]:
    return [sys.executable, "-m", "artjax.main", "--config", SMOKE, "--workdir", str(workdir), *ARGS,
            f"--config.data.workers={workers}"]


def _start(workdir: pathlib.Path) -> subprocess.Popen:
    # A session of its own: every process the run starts (grain workers) can be found by it.
    return subprocess.Popen(_command(workdir), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)


def _wait_for(proc: subprocess.Popen, ready, what: str, poll: float = 0.002) -> None:
    deadline = time.time() + 300
    while not ready():
        assert proc.poll() is None, f"the run ended before {what}: {proc.communicate()[1][-2000:]}"
        assert time.time() < deadline, f"no {what} in 300 s"
        time.sleep(poll)


def _session_processes(sid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = pathlib.Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            if int(fields[3]) == sid and fields[0] != "Z":  # the session id; zombies hold nothing
                found.append(int(entry))
    return found


def _assert_no_process_left(proc: subprocess.Popen) -> None:
    deadline = time.time() + 10
    while _session_processes(proc.pid) and time.time() < deadline:
        time.sleep(0.1)
    assert not _session_processes(proc.pid), "processes of the stopped run are still alive"


def _steps(workdir: pathlib.Path) -> list[int]:
    directory = workdir / "checkpoints"
    return sorted(int(p.name) for p in directory.iterdir() if p.name.isdigit()) if directory.is_dir() else []


def _saving(workdir: pathlib.Path) -> bool:
    directory = workdir / "checkpoints"
    return directory.is_dir() and any("tmp" in p.name for p in directory.iterdir())


def _resume(workdir: pathlib.Path) -> subprocess.CompletedProcess:
    done = subprocess.run(_command(workdir), cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def _params(workdir: pathlib.Path) -> list[np.ndarray]:
    state = nnx.state(load_run(str(workdir), which="latest").model, nnx.Param)
    return [np.asarray(x) for x in jax.tree.leaves(state)]


def _records(workdir: pathlib.Path) -> list[dict]:
    return [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]


def test_a_run_struck_five_times_ends_as_an_uninterrupted_one(tmp_path):
    straight = tmp_path / "straight"
    subprocess.run(_command(straight, workers=0), cwd=ROOT, check=True, capture_output=True, timeout=600)
    run = tmp_path / "struck"

    # 1. SIGKILL before the first checkpoint: the rerun starts afresh, with no stale rows.
    proc = _start(run)
    _wait_for(proc, lambda: (run / "metrics.jsonl").is_file() and (run / "metrics.jsonl").stat().st_size,
              "a logged step")
    assert not _steps(run)
    proc.kill()  # the trainer alone: its workers must follow it
    proc.wait()
    _assert_no_process_left(proc)

    # 2. SIGKILL while a checkpoint is being written: the half-written one is not used.
    proc = _start(run)
    _wait_for(proc, lambda: _saving(run) and _steps(run), "a save after the first checkpoint")
    proc.kill()
    proc.wait()
    _assert_no_process_left(proc)
    saved = _steps(run)

    # 3. Ctrl-C twice while the run starts up: the first asks for a checkpoint at the next step,
    # the second exits at once, without saving.
    proc = _start(run)
    lock = run / "artjax.lock"
    _wait_for(proc, lambda: lock.read_text().startswith(f"pid {proc.pid} "), "the workdir lock")
    time.sleep(0.3)  # from the lock to the signal handlers is a few lines of loop.run
    proc.send_signal(signal.SIGINT)
    line = ""
    while "saving a checkpoint at the next step" not in line:
        line = proc.stderr.readline()
        assert line, "the run ended without acknowledging SIGINT"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "again: exiting without saving" in err, err[-2000:]
    assert _steps(run) == saved

    # 4. SIGTERM mid-epoch: a checkpoint at the next step, exit 143, and no worker left behind.
    proc = _start(run)
    _wait_for(proc, lambda: any(s % 6 and s not in saved for s in _steps(run)), "a mid-epoch step", poll=0.02)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err[-2000:]
    stopped = max(_steps(run))
    assert f"interrupted at step {stopped}; rerun the same command to resume" in err
    _assert_no_process_left(proc)

    # 5. The rest of the run, then its newest checkpoint damaged and the run resumed once more.
    resumed = _resume(run)
    assert f"resuming from checkpoint at step {stopped} " in resumed.stdout
    state = run / "checkpoints" / "12" / "state"
    largest = max((p for p in state.rglob("*") if p.is_file() and p.parent.name == "d"), key=lambda p: p.stat().st_size)
    largest.write_bytes(largest.read_bytes()[: largest.stat().st_size // 2])
    resumed = _resume(run)
    assert "checkpoint" in resumed.stderr and "12 is damaged and skipped" in resumed.stderr
    assert "resuming from checkpoint at step 10 " in resumed.stdout
    assert (run / "corrupt_checkpoints" / "12").is_dir()

    for a, b in zip(_params(straight), _params(run), strict=True):
        np.testing.assert_array_equal(a, b)
    val = lambda d: [r for r in _records(d) if r["split"] == "val"]  # noqa: E731
    assert [r["epoch"] for r in val(run)] == [1, 2] and val(run) == val(straight)
    rows = [(r["split"], r["step"]) for r in _records(run)]
    assert len(rows) == len(set(rows)) == len(_records(straight))  # one row per (split, step)
