"""Overhead: ms per sample and the ratio per method, with and without TASER."""

from __future__ import annotations

import json
from pathlib import Path

import streamlit as st

from app.dashboard.common import finished_with_results, run_label


COMMITTED_RESULTS = Path(__file__).resolve().parents[3] / "benchmarks" / "results"


def _whole_step_results() -> dict[str, dict]:
    """label -> result: finished `bench-train-step` runs, then the measurements committed with the
    code, the fullest (most rows: every method and score source) first."""
    found = {f"run {run_label(run)}": result.stored()
             for run, result in finished_with_results("bench-train-step", lambda result: bool(result.rows), limit=50)}
    committed = {}
    for path in sorted(COMMITTED_RESULTS.glob("train_step_*.json")):
        try:
            committed[f"committed: {path.name}"] = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
    return found | dict(sorted(committed.items(), key=lambda item: -len(item[1].get("rows", []))))


def render_whole_step() -> None:
    from app.dashboard.common import exports
    from app.figures.overhead import LAPLACIAN_NAMES, train_step_figure
    from app.results import train_step_table

    st.header("Whole training step, method by method")
    st.caption("The training loop's own step (data and augmentation, score lookup or computation, base "
               "objective with its attack, penalty, update), with TASER over without, timed interleaved in one "
               "process; bars: median over repeats, whiskers min–max; black marks: the paper's Table 3 "
               "(one A10 GPU, ResNet-18, cached scores).")
    results = _whole_step_results()
    if not results:
        st.info("No whole-step benchmark yet: run `taser bench train-step --quick` or queue a "
                "`bench-train-step` job (Launch page).")
        return
    chosen = st.selectbox("Whole-step benchmark", list(results), key="overhead.train_step")
    rows = results[chosen]["rows"]
    laplacians = sorted({row["laplacian"] for row in rows if row["laplacian"]})
    laplacian = st.radio("Laplacian", laplacians, horizontal=True, key="overhead.train_step.laplacian",
                         format_func=LAPLACIAN_NAMES.get)
    figure = train_step_figure(rows, laplacian)
    st.plotly_chart(figure, width="stretch", key="overhead.train_step.fig")
    table = train_step_table(rows)
    implausible_note(table)
    st.dataframe(table, hide_index=True, width="stretch")
    settings = results[chosen].get("settings", {})
    st.caption(f"Batch {settings.get('batch_size')} (ResNet-18) / {settings.get('digits_batch_size')} (digits), "
               f"{settings.get('num_steps')} attack steps, {settings.get('repeats')} repeats.")
    exports("train-step", table, figure)


def render() -> None:
    from app.dashboard.common import exports
    from app.figures.overhead import overhead_figure
    from app.results import overhead_table

    st.title("Overhead of TASER")
    render_whole_step()
    st.header("The penalty alone, per estimator")
    st.caption("Wall time per sample of one training step (cross-entropy + SGD) with and without "
               "λ·R_TASER, per estimator; bars: median over repeats, whiskers min–max (benchmarks run "
               "before spreads were stored have none); errors are relative to the float64 double-backward "
               "reference.")
    runs = finished_with_results("bench-overhead", lambda result: bool(result.rows), limit=50)
    if not runs:
        st.info("No finished `bench-overhead` run yet: launch one (Launch page) or queue the demo (Home).")
        return
    labels = {run["id"]: run_label(run) for run, _ in runs}
    chosen = st.selectbox("Benchmark", list(labels), format_func=labels.get, key="overhead.run")
    result = next(result for run, result in runs if run["id"] == chosen)
    rows = result.rows
    figure = overhead_figure(rows)
    st.plotly_chart(figure, width="stretch", key="overhead.fig")
    table = overhead_table(rows)
    implausible_note(table)
    st.dataframe(table, hide_index=True, width="stretch")
    with st.expander("Benchmark settings"):
        st.json(result.settings or {}, expanded=False)
    exports("overhead", table, figure)


CASE_COLUMNS = ("model", "activation", "BatchNorm", "device", "method", "score", "laplacian", "share of batch")
NAMED_AT_MOST = 5


def implausible_note(table: list[dict]) -> None:
    """Name above a benchmark table the rows whose timing cannot be right (their "warning" cell says why)."""
    flagged = [row for row in table if row.get("warning")]
    if not flagged:
        return
    named = [" · ".join(str(row[column]) for column in CASE_COLUMNS if column in row) + f": {row['warning']}"
             for row in flagged[:NAMED_AT_MOST]]
    more = [f"and {len(flagged) - NAMED_AT_MOST} more (see the **warning** column)"] if len(flagged) > NAMED_AT_MOST else []
    st.warning(f"{len(flagged)} of {len(table)} rows look implausible (hatched in the chart): a step timed cheaper "
               "than one doing strictly less work is timing noise, so rerun with more repeats on an idle machine "
               "before reading these ratios.\n\n" + "\n".join(f"- {line}" for line in named + more))
