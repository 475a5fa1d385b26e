"""The Overhead page: spread over repeats, implausible rows flagged, labels that read in full."""

from __future__ import annotations

import pytest

from app.figures.overhead import overhead_figure, train_step_figure
from app.results import WHOLE_STEP_CASE, overhead_table, timing_warnings, train_step_table


def penalty_row(method: str, laplacian: str, ms: float, spread: float = 0.1, **fields) -> dict:
    plain = 1.0
    return {"model": "small_cnn", "device": "cpu", "method": method, "laplacian": laplacian,
            "num_probes": 1 if laplacian == "hutchinson" else 0, "fraction": 1.0,
            "ms_per_sample": ms, "ms_per_sample_min": ms - spread, "ms_per_sample_max": ms + spread,
            "plain_ms_per_sample": plain, "plain_ms_per_sample_min": plain - 0.05, "plain_ms_per_sample_max": plain + 0.05,
            "ratio": ms / plain, "ratio_min": (ms - spread) / plain, "ratio_max": (ms + spread) / plain, **fields}


ROWS = [penalty_row("jvp", "none", 2.0), penalty_row("jvp", "hutchinson", 1.5),  # Hutchinson cheaper: wrong
        penalty_row("fd", "none", 1.6), penalty_row("fd", "hutchinson", 3.0),  # as it should be
        penalty_row("fd", "none", 0.8, fraction=0.5)]  # with TASER faster than without: wrong


def test_timing_warnings_flag_what_cannot_be_right():
    warnings = timing_warnings(ROWS)
    assert warnings[0] == warnings[2] == warnings[3] == ""
    assert "Hutchinson step timed cheaper than first-order (1.5 vs 2 ms/sample)" == warnings[1]
    assert "faster than without (×0.80)" in warnings[4]
    assert [row["warning"] for row in overhead_table(ROWS)] == warnings
    assert overhead_table(ROWS)[1]["ratio min"] == pytest.approx(1.4)


def test_whole_step_warnings_compare_within_a_score_source_and_spare_the_baseline():
    def row(score, laplacian, ratio, low, high):
        return {"model": "small_cnn", "device": "cpu", "method": "pgd", "score": score, "laplacian": laplacian,
                "batch_size": 64, "num_steps": 10, "ms_per_sample": ratio, "ms_per_sample_min": low,
                "ms_per_sample_max": high, "ratio": ratio, "ratio_min": low, "ratio_max": high, "paper_ratio": 1.2}

    rows = [row("none", None, 1.0, 0.9, 1.1), row("gaussian", "none", 1.8, 1.7, 1.9),
            row("gaussian", "hutchinson", 1.75, 1.6, 2.0), row("diffusion-live", "hutchinson", 2.5, 2.4, 2.6)]
    warnings = timing_warnings(rows, WHOLE_STEP_CASE)
    assert warnings[0] == warnings[1] == warnings[3] == ""  # no first-order diffusion row to compare with
    assert warnings[2].endswith("within the spread over repeats)")
    assert [r["warning"] for r in train_step_table(rows)] == warnings
    figure = train_step_figure(rows, "hutchinson")
    gaussian = next(trace for trace in figure.data if trace.name == "gaussian")
    assert list(gaussian.marker.pattern.shape) == ["x"]  # the flagged bar is hatched


def test_overhead_figure_has_horizontal_bars_whiskers_and_marked_labels():
    figure = overhead_figure(ROWS)
    bars = {trace.name: trace for trace in figure.data}
    assert {trace.orientation for trace in bars.values()} == {"h"}  # long labels on the y axis, not crammed
    ratio = bars["ratio"]
    assert list(ratio.y)[1] == "jvp · hutchinson, K=1 (implausible)" and list(ratio.y)[0] == "jvp · none"
    assert list(ratio.marker.pattern.shape) == ["", "x", "", "", "x"]
    assert list(ratio.error_x.array) == pytest.approx([0.1] * 5)
    assert list(bars["with TASER"].error_x.arrayminus) == pytest.approx([0.1] * 5)
    assert figure.layout.xaxis2.type == "log"  # ratios from ×1 to ×100 (exact Laplacian) all read
    # rows measured before spreads were stored: no whiskers, values written beside the bars
    old = [{key: value for key, value in row.items() if not key.endswith(("_min", "_max"))} for row in ROWS]
    old_ratio = next(trace for trace in overhead_figure(old).data if trace.name == "ratio")
    assert old_ratio.error_x.array is None and list(old_ratio.text)[0] == "×2.00"


def test_the_page_warns_about_implausible_committed_rows(queue_db, monkeypatch):
    """The whole-step measurement committed in benchmarks/results/ has Hutchinson steps timed
    cheaper than first-order (within noise): the page says so above its table."""
    import sys

    from streamlit.testing.v1 import AppTest

    from tests.dashboard_support import MAIN

    monkeypatch.setitem(sys.modules, "__main__", sys.modules["__main__"])  # AppTest replaces it
    at = AppTest.from_file(str(MAIN), default_timeout=60)
    at.run()
    at.switch_page("screens/overhead.py").run()
    at.selectbox(key="overhead.train_step").select("committed: train_step_quick_cpu.json").run()
    assert not at.exception and not at.error
    note = next(warning.value for warning in at.warning if "look implausible" in warning.value)
    assert "small_cnn · cpu · pgd · diffusion-live · hutchinson: Hutchinson step timed cheaper" in note
    table = at.dataframe[0].value
    assert "warning" in table.columns and table["warning"].str.contains("cheaper than first-order").any()


def test_a_whole_step_run_shows_its_charts_on_the_run_page_and_in_reports():
    import json
    from pathlib import Path

    from app.jobs import parse_result
    from app.viewers import FigureBlock, TableBlock, result_blocks

    committed = Path(__file__).resolve().parent.parent / "benchmarks" / "results" / "train_step_quick_cpu.json"
    blocks = result_blocks("bench-train-step", parse_result("bench-train-step", json.loads(committed.read_text())))
    assert [type(block) for block in blocks] == [FigureBlock, FigureBlock, TableBlock]
    assert [block.title for block in blocks[:2]] == ["Hutchinson K=1", "first-order"]
    assert "warning" in blocks[2].rows[0]
