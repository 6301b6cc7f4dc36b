"""Bench tables: `gnm-nav bench report` renders a bench's JSON (the stack's latency) as Markdown and writes it
between its markers."""
from __future__ import annotations

import json
from pathlib import Path

from cli_runner import run_command

from gnm_nav.commands import bench as bench_command
from gnm_nav.evaluation.report import document_block


def stack_results() -> dict:
    results = {"area": "stack", "world": "2000", "route_m": 16.2, "robot": "turtlebot", "cpus": 2,
               "real_time_factor_asked": 1.0, "modes": ["ours", "ours_int8"]}
    for mode, scale in (("ours", 1.0), ("ours_int8", 0.5)):
        results[f"{mode}.reason"] = "goal reached"
        results[f"{mode}.real_time_factor"] = 0.97
        results[f"{mode}.time_s"] = 88.4
        for figure in ("camera_to_cmd_ms", "camera_to_policy_ms", "planner_tick_ms", "policy_step_ms"):
            results[f"{mode}.{figure}_p50"] = 40.0 * scale
            results[f"{mode}.{figure}_p99"] = 120.0 * scale
    results["ours_int8.planner_tick_ms_p50"] = float("nan")  # a figure a run did not report
    return results


def _bench(argv: list[str]) -> int:
    return run_command(bench_command, argv)


def test_stack_table_one_row_per_mode(tmp_path, capsys):
    path = tmp_path / "stack.json"
    path.write_text(json.dumps(stack_results()))
    assert _bench(["report", str(path)]) == 0
    text = capsys.readouterr().out
    assert "| ours | 40 / 120 | 40 / 120 | 40 / 120 | 40 / 120 | 0.97 | 88 | goal reached |" in text
    assert "| ours_int8 | 20 / 60 | 20 / 60 | - | 20 / 60 | 0.97 | 88 | goal reached |" in text
    doc = tmp_path / "README.md"
    doc.write_text("intro\n<!-- gnm-nav bench report: stack -->\nold\n<!-- end of gnm-nav bench report -->\nrest\n")
    assert _bench(["report", str(path), "--update", str(doc)]) == 0
    assert document_block(doc, "stack", kind="bench") == bench_command.bench_markdown(stack_results())
    assert doc.read_text().endswith("rest\n")


def test_a_bench_without_a_table_or_a_broken_file_is_one_clear_error(tmp_path, capsys):
    (tmp_path / "policy.json").write_text(json.dumps({"area": "policy"}))
    assert _bench(["report", str(tmp_path / "policy.json")]) == 2
    assert "has no report table" in capsys.readouterr().out
    (tmp_path / "bad.json").write_text("{")
    assert _bench(["report", str(tmp_path / "bad.json")]) == 2



def test_readme_bench_tables_are_generated_from_the_committed_results():
    """Every README block `<!-- gnm-nav bench report: NAME -->` is what `gnm-nav bench report` writes from
    docs/results/bench/NAME.json (tables are never typed by hand)."""
    root = Path(__file__).resolve().parents[1]
    readme = root / "README.md"
    results = sorted((root / "docs" / "results" / "bench").glob("*.json"))
    assert results, "no committed bench results"
    for path in results:
        expected = bench_command.bench_markdown(json.loads(path.read_text()))
        assert document_block(readme, path.stem, kind="bench") == expected, f"README block {path.stem} is stale"
