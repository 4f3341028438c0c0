"""The benchmark harness end to end on its smallest case, and the standalone benchmarks on small
inputs (no assertion on speed)."""

from __future__ import annotations

import dataclasses
import re

import pytest

from benchmarks import __main__ as cli
from benchmarks import csv_index, harness, report
from benchmarks import serve as serve_benchmark
from benchmarks.cases import CASES, Side


@pytest.mark.parametrize("name", ["smoke_resnet_mini_32", "smoke_pyramid_mini_32"])
def test_smoke_case_runs_both_sides_and_appends_one_row_per_run(name, tmp_path):
    case = CASES[name]
    result = harness.run_case(case, repeats=1, steps=1, warmup=1, log=lambda _: None)
    for side in (result.a, result.b):
        assert len(side.images_per_s) == 1 and side.images_per_s[0] > 0
        assert side.maxrss_mb > 0 and side.busy_cores[0] > 0
    assert result.a.facts["mesh"] >= 1 and result.b.facts["threads"] >= 1
    path = tmp_path / "BENCHMARKS.md"
    path.write_text("# Benchmarks\n\nprose\n")
    report.append(path, result, f"python -m benchmarks --case {name}")
    report.append(path, result, f"python -m benchmarks --case {name}")
    text = path.read_text()
    assert text.startswith("# Benchmarks\n\nprose\n")
    assert text.count("### smoke") == 1 and text.count("| date |") == 1  # second row joins the table
    rows = [line for line in text.splitlines() if line.startswith("| 20")]
    assert len(rows) == 2 and name in rows[0] and "`python -m benchmarks" in rows[0]
    assert f"**{result.ratio:.2f}**" in rows[0] and report.machine() in rows[0]


def test_side_round_trips_through_json_and_rejects_unknown_modes():
    for name in ("resnet50_s0_freeze_stem", "pyramid_b0_train_30crops", "resnet50_ynn_train_224"):
        side = CASES[name].a
        assert Side.from_json(side.to_json()) == side
    assert CASES["pyramid_b0_train_30crops"].a.crops() == 30
    with pytest.raises(ValueError, match="mode"):
        dataclasses.replace(side, mode="training")


def test_cli_lists_cases_and_rejects_unknown_ones(capsys):
    assert cli.main(["--list"]) == 0
    assert "resnet50_train_224" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        cli.main(["--case", "resnet51_train"])


def test_csv_index_measures_a_generated_manifest(capsys):
    assert csv_index.main(["--rows", "1000", "--classes", "10"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("1,000 rows") and "800 training rows after the hold-out split" in out  # 20 % held out
    measured = re.search(r"indexed in ([\d.]+) s, peak memory (\d+) MB \((\d+) MB after imports\)", out)
    assert measured, out
    assert float(measured[1]) < 5  # 1,000 rows; the target is 30 s for 1,000,000
    assert int(measured[2]) >= int(measured[3]) > 0  # the peak includes the imports


def test_pipeline_smoke_case_times_both_loaders_with_a_worker():
    result = harness.run_case(CASES["smoke_pipeline_painters_32"], repeats=1, steps=2, warmup=1, log=lambda _: None)
    for side in (result.a, result.b):
        assert side.images_per_s[0] > 0 and side.facts["workers"] == 1
        # Reported, not timed: starting a worker and taking its first batch is never instant.
        assert side.facts["start_s"] > 0 and isinstance(side.facts["close_s"], float)


def test_retrieval_benchmark_measures_every_backend_against_the_exact_search(capsys):
    from benchmarks import retrieval

    assert retrieval.main(["--sizes", "2000", "--dims", "64", "--queries", "50", "--k", "5"]) == 0
    rows = [line.split("|") for line in capsys.readouterr().out.splitlines() if line.startswith("| 2,000 |")]
    measured = {row[3].strip(): row for row in rows[len(rows) // 2:]}  # the final table (rows print as they come)
    assert set(measured) == set(retrieval.BACKENDS)
    for backend in ("numpy", "faiss_flat"):
        assert float(measured[backend][7]) == 1.0  # exact: recall@k 1
    assert float(measured["faiss_hnsw"][7]) > 0.9 and float(measured["usearch_hnsw"][7]) > 0.9


def test_serve_benchmark_times_concurrent_clients_of_a_served_run(smoke_run, capsys):
    assert serve_benchmark.main(["--workdir", str(smoke_run), "--clients", "1,2", "--requests", "2"]) == 0
    rows = capsys.readouterr().out.strip().splitlines()
    assert len(rows) == 2
    for clients, row in zip((1, 2), rows):
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert cells[3:5] == [str(clients), str(2 * clients)]  # clients, requests
        p50, p95, rate = float(cells[5]), float(cells[6]), float(cells[7].strip("*"))
        assert 0 < p50 <= p95 and rate > 0
