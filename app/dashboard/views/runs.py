"""Runs: the table with status, progress and ETA refreshing live, filters, cancel / re-queue."""

from __future__ import annotations

import streamlit as st

from app.dashboard.common import STATUS_ICONS, format_eta

REFRESH_S = 2.0
STATES = ["queued", "running", "succeeded", "failed", "cancelled"]


def table_rows(runs: list[dict]) -> list[dict]:
    """Rows for st.dataframe (pure): one per run, with a progress fraction and readable ETA."""
    return [{
        "id": run["id"], "status": f"{STATUS_ICONS.get(run['status'], '')} {run['status']}",
        "kind": run["kind"], "name": run["name"] or "", "progress": run["progress"] or 0.0,
        "eta": format_eta(run["eta_s"]) if run["status"] == "running" else "",
        "message": run["error"] or run["progress_message"], "tags": ", ".join(run["tags"]),
        "created": run["created_at"], "open": f"run?run={run['id']}",
    } for run in runs]


def render() -> None:
    from db import store

    st.title("Runs")
    filters = st.columns([2, 2, 2, 2, 1])
    kinds = filters[0].multiselect("Kind", store.run_kinds(), key="runs.kind")
    states = filters[1].multiselect("Status", STATES, key="runs.status")
    tag = filters[2].selectbox("Tag", ["(any)"] + store.all_tags(), key="runs.tag")
    name = filters[3].text_input("Name contains", key="runs.name")
    live = filters[4].toggle("Live", value=True, key="runs.live", help=f"refresh every {REFRESH_S:g} s")
    query = {"kind": kinds or None, "status": states or None, "tag": None if tag == "(any)" else tag,
             "name_contains": name or None}
    live_table(query, REFRESH_S if live else None)
    actions()


def live_table(query: dict, every: float | None) -> None:
    @st.fragment(run_every=every)
    def table() -> None:
        from db import store

        runs = store.list_runs(light=True, **query, limit=500)
        if not runs:
            st.info("No runs match. Launch one from the Launch page, or queue the demo from Home.")
            return
        st.dataframe(table_rows(runs), hide_index=True, width="stretch", column_config={
            "progress": st.column_config.ProgressColumn("progress", min_value=0.0, max_value=1.0, format="percent"),
            "open": st.column_config.LinkColumn("open", display_text="details"),
        }, key="runs.table")
        active = [run for run in runs if run["status"] in ("running", "queued")][:10]
        for run in active:
            eta = format_eta(run["eta_s"])
            st.progress(run["progress"] or 0.0, text=f"{STATUS_ICONS[run['status']]} #{run['id']} "
                        f"{run['name'] or run['kind']}: {run['status']} {run['progress_message']}"
                        + (f" · ETA {eta}" if eta else ""))
        latest = ", ".join(f"{STATUS_ICONS.get(run['status'], '')} #{run['id']} {run['name'] or run['kind']} "
                           f"{run['status']}" for run in runs[:5])
        running = sum(run["status"] == "running" for run in runs)
        st.caption(f"{len(runs)} run(s), {running} running" + (f" · refreshing every {every:g} s" if every else "")
                   + f" · newest: {latest}")

    table()


def actions() -> None:
    st.subheader("Act on a run")
    columns = st.columns([1, 1, 1, 1, 3])
    run_id = columns[0].number_input("Run id", min_value=1, step=1, value=None, key="runs.action_id")
    if run_id is None:
        return
    run_id = int(run_id)
    columns[1].page_link("screens/run.py", label="Open", query_params={"run": str(run_id)})
    job = _job_of_run(run_id)
    if job is None:
        columns[4].warning(f"No run #{run_id}.")
        return
    # on_click callbacks run before the page is drawn, so the buttons below show the new state
    columns[2].button("Cancel", key="runs.cancel", on_click=_cancel, args=(run_id, job["id"]),
                      disabled=job["status"] not in ("queued", "running"))
    columns[3].button("Re-queue", key="runs.requeue", on_click=_requeue, args=(run_id, job["id"]),
                      disabled=job["status"] not in ("failed", "cancelled"))
    columns[4].caption(f"status: {job['status']}")
    if "runs.action_message" in st.session_state:
        st.toast(st.session_state.pop("runs.action_message"))


def _cancel(run_id: int, job_id: int) -> None:
    from db import store

    status = store.request_cancel(job_id)
    st.session_state["runs.action_message"] = (
        f"run #{run_id}: " + ("cancelled" if status == "cancelled" else "cancel requested; it stops at its next step"))


def _requeue(run_id: int, job_id: int) -> None:
    from db import store

    try:
        store.requeue(job_id)
    except store.QueueError as exc:
        st.session_state["runs.action_message"] = str(exc)
    else:
        st.session_state["runs.action_message"] = f"run #{run_id}: queued again (resumes from its last checkpoint)"


def _job_of_run(run_id: int) -> dict | None:
    from db import store

    run = store.get_run(run_id)
    return run["job"] if run else None
