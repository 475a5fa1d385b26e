"""Home: what is running, recent results, worker status, where the data lives."""

from __future__ import annotations

import streamlit as st

from app.dashboard.common import (STATUS_ICONS, artifact_root, database_location, embedded_worker_note,
                                  format_eta, run_label)


def render() -> None:
    from db import store

    st.title("TASER Studio")
    st.caption("Task-Aware Stein Regularisation: classifiers whose sensitivity follows the data's "
               "geometry. Launch runs, watch them, compare results, share a report.")
    counts = store.status_counts()
    columns = st.columns(5)
    for column, status in zip(columns, ("queued", "running", "succeeded", "failed", "cancelled")):
        column.metric(f"{STATUS_ICONS[status]} {status}", counts.get(status, 0))

    left, right = st.columns([3, 2])
    with left:
        st.subheader("Running now")
        running = store.list_runs(light=True, status=["running"], limit=20)
        if not running:
            st.write("Nothing is running.")
        for run in running:
            text = f"{run_label(run)} · {run['kind']} · {run['progress_message']} · ETA {format_eta(run['eta_s']) or '?'}"
            st.progress(run["progress"], text=text)
        st.subheader("Recent results")
        recent = store.list_runs(light=True, status=["succeeded", "failed", "cancelled"], limit=10)
        if not recent:
            st.write("No finished runs yet. Queue the demo below or launch a run.")
        for run in recent:
            note = f" — {run['error']}" if run["error"] else ""
            st.page_link("screens/run.py", label=f"{STATUS_ICONS[run['status']]} {run_label(run)} ({run['kind']}){note}",
                         query_params={"run": str(run["id"])})
    with right:
        st.subheader("Workers")
        workers = store.active_workers()
        if workers:
            for worker in workers:
                st.write(f"`{worker['worker_id']}` on job {worker['job_id']} (heartbeat {worker['heartbeat_at']})")
        else:
            st.write("No worker is running a job right now.")
        st.caption(embedded_worker_note())
        if counts.get("queued", 0) and not workers:
            st.warning(f"{counts['queued']} job(s) waiting: is a worker running?")
        st.subheader("Where the data lives")
        st.write(f"Database: `{database_location()}`")
        st.write(f"Artifacts: `{artifact_root()}`")
        st.subheader("Demo")
        from app.commands.demo import QUICK_TAKES  # measured, as the CLI's help says

        st.caption("Queues, on the bundled data, every job kind installed here, so each page fills "
                   f"with real results (quick preset: {QUICK_TAKES}).")
        if st.button("Queue the quick demo", key="home.demo"):
            from app.demo import queue_demo

            queued, skipped = queue_demo(quick=True)
            st.success(f"Queued {len(queued)} job(s): {', '.join(item['kind'] for item in queued)}")
            for note in skipped:
                st.info(note)
