"""Overhead: ms per sample and the ratio per method, with and without TASER."""

from __future__ import annotations

import streamlit as st

from app.dashboard.common import run_label


def render() -> None:
    from db import dashboard_queries as dq

    from app.dashboard.views.robustness import exports
    from app.figures.overhead import overhead_figure
    from app.results import overhead_table

    st.title("Overhead of the TASER penalty")
    st.caption("Wall time per sample of one training step (cross-entropy + SGD) with and without "
               "λ·R_TASER, per estimator; errors are relative to the float64 double-backward reference.")
    runs = [run for run in dq.finished_results("bench-overhead") if (run["summary"] or {}).get("rows")]
    if not runs:
        st.info("No finished `bench-overhead` run yet: launch one (Launch page) or queue the demo (Home).")
        return
    labels = {run["id"]: run_label(run) for run in runs}
    chosen = st.selectbox("Benchmark", list(labels), format_func=labels.get, key="overhead.run")
    summary = next(run for run in runs if run["id"] == chosen)["summary"]
    rows = summary["rows"]
    figure = overhead_figure(rows)
    st.plotly_chart(figure, width="stretch", key="overhead.fig")
    table = overhead_table(rows)
    st.dataframe(table, hide_index=True, width="stretch")
    with st.expander("Benchmark settings"):
        st.json(summary.get("settings", {}), expanded=False)
    exports("overhead", table, figure)
