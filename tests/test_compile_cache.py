"""JAX's persistent compilation cache, on by default: a program compiled once is read back by
the next process (here: after JAX's in-memory caches are cleared), `compile_cache = ""` turns it
off, "auto" resolves to the user's cache directory, and both training and restoring a run apply
their config's setting. (The time it saves is measured in BENCHMARKS.md, not here.)"""

import json
import os
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from artjax import runtime
from artjax.config import load_config
from artjax.runs.restore import load_run
from artjax.train import loop


@pytest.fixture(autouse=True)
def _session_cache_afterwards():
    yield
    runtime.configure_compilation_cache("auto")  # back to the test session's cache (conftest)


def _entries(path) -> set[str]:
    return {name for name in os.listdir(path) if name.endswith("-cache")} if os.path.isdir(path) else set()


def test_a_program_is_compiled_once_and_read_back_then_the_cache_turns_off(tmp_path):
    cache = str(tmp_path / "cache")
    assert runtime.configure_compilation_cache(cache) == cache
    scale = np.float32(np.random.default_rng().random())  # a program no earlier test compiled

    def program(x):
        return jnp.tanh(x * scale) + 1

    x = jnp.arange(8.0)
    first = jax.jit(program)(x)
    written = _entries(cache)
    assert written  # even a program far under JAX's one-second default threshold is kept

    hits = []

    def listen(event, **_):
        hits.append(event)

    jax.monitoring.register_event_listener(listen)
    try:
        jax.clear_caches()
        again = jax.jit(program)(x)
    finally:
        jax.monitoring.unregister_event_listener(listen)
    assert "/jax/compilation_cache/cache_hits" in hits
    assert _entries(cache) == written and np.array_equal(first, again)

    assert runtime.configure_compilation_cache("") is None
    jax.jit(lambda y: y * scale - 3)(x)
    assert _entries(cache) == written  # off: nothing new is written


def test_auto_is_the_users_cache_directory_unless_jax_has_one(monkeypatch, tmp_path):
    monkeypatch.delenv("JAX_COMPILATION_CACHE_DIR", raising=False)
    monkeypatch.delenv("ARTJAX_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert runtime.configure_compilation_cache("auto") == str(tmp_path / "xdg" / "artjax" / "jax")
    monkeypatch.setenv("ARTJAX_CACHE_DIR", str(tmp_path / "mine"))
    assert runtime.configure_compilation_cache("auto") == str(tmp_path / "mine" / "jax")
    monkeypatch.setenv("JAX_COMPILATION_CACHE_DIR", str(tmp_path / "jax_own"))
    assert runtime.configure_compilation_cache("auto") == str(tmp_path / "jax_own")
    assert runtime.configure_compilation_cache(str(tmp_path / "explicit")) == str(tmp_path / "explicit")


def test_training_and_restoring_apply_the_runs_setting(smoke_run, tmp_path):
    config = load_config("experiments/quickstart.py:smoke")
    config.compile_cache = str(tmp_path / "train_cache")
    config.data.source, config.data.root = "folder", str(tmp_path / "no_such_folder")
    with pytest.raises(FileNotFoundError, match="no_such_folder"):  # the run ends before any compilation
        loop.run(config, str(tmp_path / "run"))
    assert jax.config.jax_compilation_cache_dir == config.compile_cache

    workdir = tmp_path / "copy"
    shutil.copytree(smoke_run, workdir)
    saved = json.loads((workdir / "config.json").read_text())
    saved["compile_cache"] = str(tmp_path / "restore_cache")
    (workdir / "config.json").write_text(json.dumps(saved))
    load_run(str(workdir))
    assert jax.config.jax_compilation_cache_dir == saved["compile_cache"]
