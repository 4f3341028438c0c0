"""The benchmark harness end to end on its smallest case (no assertion on speed)."""

from __future__ import annotations

import dataclasses

import pytest

from benchmarks import __main__ as cli
from benchmarks import harness, report
from benchmarks.cases import CASES, Side


def test_smoke_case_runs_both_sides_and_appends_one_row_per_run(tmp_path):
    case = CASES["smoke_resnet_mini_32"]
    result = harness.run_case(case, repeats=1, steps=1, warmup=1, log=lambda _: None)
    for side in (result.a, result.b):
        assert len(side.images_per_s) == 1 and side.images_per_s[0] > 0
        assert side.maxrss_mb > 0 and side.busy_cores[0] > 0
    assert result.a.facts["mesh"] >= 1 and result.b.facts["threads"] >= 1
    path = tmp_path / "BENCHMARKS.md"
    path.write_text("# Benchmarks\n\nprose\n")
    report.append(path, result, "python -m benchmarks --case smoke_resnet_mini_32")
    report.append(path, result, "python -m benchmarks --case smoke_resnet_mini_32")
    text = path.read_text()
    assert text.startswith("# Benchmarks\n\nprose\n")
    assert text.count("### smoke") == 1 and text.count("| date |") == 1  # second row joins the table
    rows = [line for line in text.splitlines() if line.startswith("| 20")]
    assert len(rows) == 2 and "smoke_resnet_mini_32" in rows[0] and "`python -m benchmarks" in rows[0]
    assert f"**{result.ratio:.2f}**" in rows[0] and report.machine() in rows[0]


def test_side_round_trips_through_json_and_rejects_unknown_modes():
    side = CASES["resnet50_s0_freeze_stem"].a
    assert Side.from_json(side.to_json()) == side
    with pytest.raises(ValueError, match="mode"):
        dataclasses.replace(side, mode="training")


def test_cli_lists_cases_and_rejects_unknown_ones(capsys):
    assert cli.main(["--list"]) == 0
    assert "resnet50_train_224" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        cli.main(["--case", "resnet51_train"])
