"""Report: a self-contained HTML file (tables, interactive figures) of chosen runs to download."""

from __future__ import annotations

import streamlit as st

from app.dashboard.common import run_label
from app.dashboard.selection import url_run_multiselect


def render() -> None:
    from db import store

    st.title("Report")
    st.caption("One HTML file with the chosen runs' tables and interactive figures, plotly.js inlined: "
               "it opens offline, without the app. Same as `taser report --runs ... --out report.html`.")
    runs = store.list_runs(light=True, status=["succeeded", "failed", "cancelled", "running"], limit=500)
    if not runs:
        st.info("No runs yet.")
        return
    labels = {run["id"]: f"{run_label(run)} ({run['kind']}, {run['status']})" for run in runs}
    default = [run["id"] for run in runs if run["status"] == "succeeded"][:5]
    chosen = url_run_multiselect("Runs in the report", labels, default, key="report.runs")
    title = st.text_input("Title", value="TASER Studio report", key="report.title")
    if not chosen:
        st.info("Pick at least one run.")
        return
    if st.button("Build the report", type="primary", key="report.build"):
        from app.report import build_report

        with st.spinner("rendering..."):
            st.session_state["report.html"] = (tuple(chosen), build_report(chosen, title=title))
    built = st.session_state.get("report.html")
    if built and list(built[0]) == list(chosen):
        size = len(built[1].encode()) / 1024**2
        st.download_button(f"Download report.html ({size:.1f} MiB)", built[1], file_name="taser-report.html",
                           mime="text/html", key="report.download")
