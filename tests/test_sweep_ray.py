"""`--backend ray`: every run of a sweep a Ray task on a local cluster (num_cpus=2, so two runs
at once); over three variants, two that train and one that fails at run time, the table is the
sequential backend's and the failed run is reported with its log tail while the others finish."""

import pathlib
import textwrap

import pytest

from artjax.sweep import RunsFailed, sweep

ray = pytest.importorskip("ray")

ROOT = pathlib.Path(__file__).parents[1]
OVERRIDES = [("train.epochs", "1"), ("data.painters.num_train", "32"), ("data.painters.num_val", "16")]
GOOD = ("a", "b")


@pytest.fixture(scope="module")
def cluster():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": str(ROOT)}})
    yield
    ray.shutdown()


def _experiment(folder: pathlib.Path) -> str:
    """The quickstart's smoke form at learning rates a, b and c, and `broken`, whose data folder is
    missing: its config validates, its run fails when it opens the data."""
    path = folder / "lrs.py"
    path.write_text(textwrap.dedent(f"""
        import importlib.util
        from artjax.config import parse_variant

        _spec = importlib.util.spec_from_file_location("quickstart", {str(ROOT / "experiments" / "quickstart.py")!r})
        _quickstart = importlib.util.module_from_spec(_spec)
        _spec.loader.exec_module(_quickstart)

        def get_config(arg=None):
            variant = parse_variant(arg, flags=("a", "b", "c", "broken"))
            config = _quickstart.get_config("smoke")
            config.optimizer.learning_rate = {{"a": 0.05, "b": 0.1, "c": 0.02}}.get(next(iter(variant), ""), 0.05)
            if variant.get("broken"):
                config.data.source = "folder"
                config.data.root = {str(folder / "missing")!r}
            return config
        """))
    return str(path)


def _rows(table: str) -> list[str]:
    return sorted(line for line in table.splitlines() if line.startswith("| ") and not line.startswith("| scenario"))


def test_ray_sweep_matches_the_sequential_table_and_reports_the_failed_run(tmp_path, cluster, capsys):
    spec = _experiment(tmp_path)
    sweep(spec, ",".join(GOOD), str(tmp_path / "local"), overrides=OVERRIDES)
    local = _rows((tmp_path / "local" / "results.md").read_text())
    with pytest.raises(RunsFailed, match="1 of 3 runs failed: broken"):
        sweep(spec, ",".join((*GOOD, "broken")), str(tmp_path / "ray"), overrides=OVERRIDES, backend="ray",
              ray_options={"cpus_per_run": 1})
    err = capsys.readouterr().err
    assert "== broken FAILED" in err and "missing" in err.split("== broken FAILED", 1)[1]
    assert _rows((tmp_path / "ray" / "results.md").read_text()) == local
    for name in GOOD:
        assert (tmp_path / "ray" / name / "report" / "index.html").is_file()
