"""Runs: the table with status, progress and ETA refreshing live, result columns that sort and
filter, filters, selection for Compare and archiving, cancel / re-queue / archive / restore."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import streamlit as st

from app.dashboard.common import STATUS_ICONS, format_eta

REFRESH_S = 2.0
STATES = ["queued", "running", "succeeded", "failed", "cancelled"]
ACTIVE_STATES = ("queued", "running")
RESULT_COLUMNS = ("clean", "AA", "SPSA", "robust avg.", "overhead")
# The result filters: (label, column); accuracies are typed in percent, stored as fractions.
MIN_FILTERS = (("Min clean (%)", "clean"), ("Min robust avg. (%)", "robust avg."))


def result_columns(headline) -> dict[str, float | None]:
    """The result columns of one run (pure): accuracies as fractions from the evaluation that
    speaks for it (a training without one shows its own clean accuracy), overhead as TASER's
    step time over its base part, timed in the same training."""
    from app.results import accuracies_from_rows, in_run_overhead

    columns = dict.fromkeys(RESULT_COLUMNS)
    if headline is None:
        return columns
    measured = accuracies_from_rows(headline.evaluations).get(headline.evaluation_run_id, {})
    robust = measured.get("robust", {})
    columns.update({"clean": measured.get("clean_acc", headline.train_clean_acc), "AA": robust.get("autoattack"),
                    "SPSA": robust.get("spsa"), "robust avg.": measured.get("robust_avg"),
                    "overhead": in_run_overhead(headline.ms_per_sample, headline.ms_per_sample_without_penalty,
                                                headline.penalty_ms_per_sample)})
    return columns


def table_rows(runs: Sequence[Mapping], headlines: Mapping[int, object] | None = None, *,
               with_archived: bool = False) -> list[dict]:
    """Rows for st.dataframe (pure): one per run, with a progress fraction, readable ETA and the
    result columns (numbers, so the table sorts them); `with_archived` adds whether it is archived."""
    headlines = headlines or {}
    return [{
        "id": run["id"], "status": run["status"],
        **({"archived": bool(run.get("archived_at"))} if with_archived else {}),
        "kind": run["kind"], "name": run["name"] or "", "progress": run["progress"] or 0.0,
        "eta": format_eta(run["eta_s"]) if run["status"] == "running" else "",
        **result_columns(headlines.get(run["id"])),
        "message": run["error"] or run["progress_message"], "tags": ", ".join(run["tags"]),
        "created": run["created_at"], "open": f"run?run={run['id']}", "clone": f"launch?clone={run['id']}",
    } for run in runs]


def filter_rows(rows: list[dict], minimums: Mapping[str, float | None]) -> list[dict]:
    """The rows whose result columns reach every given minimum (fractions); a row without the
    number does not. A value equal to the minimum up to rounding (55% typed, 0.5499999 stored)
    reaches it."""
    wanted = {column: low - 1e-9 for column, low in minimums.items() if low is not None}
    return [row for row in rows if all(row.get(column) is not None and row[column] >= low
                                       for column, low in wanted.items())]


def selected_ids(positions: Sequence[int], shown_ids: Sequence[int]) -> list[int]:
    """The run ids of the selected row positions of the table as it was drawn, in table order."""
    return [shown_ids[position] for position in sorted(positions) if 0 <= position < len(shown_ids)]


def compare_query(run_ids: Sequence[int]) -> dict[str, str]:
    """The Compare page's URL selection: `runs` = comma-separated run ids."""
    return {"runs": ",".join(str(run_id) for run_id in run_ids)}


def action_refresh_s(status: str | None) -> float | None:
    """How often the action area re-reads its job: while it may still change on its own (a
    worker picks it up, finishes it, or stops it after a cancel), else never."""
    return REFRESH_S if status in ACTIVE_STATES else None


def render() -> None:
    from db import store

    st.title("Runs")
    filters = st.columns([2, 2, 2, 2, 1])
    kinds = filters[0].multiselect("Kind", store.run_kinds(), key="runs.kind")
    states = filters[1].multiselect("Status", STATES, key="runs.status")
    tag = filters[2].selectbox("Tag", ["(any)"] + store.all_tags(), key="runs.tag")
    name = filters[3].text_input("Name contains", key="runs.name")
    live = filters[4].toggle("Live", value=True, key="runs.live", help=f"refresh every {REFRESH_S:g} s")
    results = st.columns([2, 2, 2, 3])
    minimums = {column: _percent_input(results[index], label, f"runs.min.{column}")
                for index, (label, column) in enumerate(MIN_FILTERS)}
    archived = results[2].toggle("Show archived", key="runs.show_archived",
                                 help="archived runs are hidden from every table and result page")
    query = {"kind": kinds or None, "status": states or None, "tag": None if tag == "(any)" else tag,
             "name_contains": name or None, "include_archived": archived}
    live_table(query, minimums, REFRESH_S if live else None)
    actions()


def _percent_input(column, label: str, key: str) -> float | None:
    value = column.number_input(label, min_value=0.0, max_value=100.0, value=None, step=1.0, key=key)
    return None if value is None else value / 100


def live_table(query: dict, minimums: Mapping[str, float | None], every: float | None) -> None:
    @st.fragment(run_every=every)
    def table() -> None:
        from db import store

        runs = store.list_runs(light=True, **query, limit=500)
        if not runs:
            st.info("No runs match. Launch one from the Launch page, or queue the demo from Home.")
            return
        headlines = store.headline_results([run["id"] for run in runs])
        rows = filter_rows(table_rows(runs, headlines, with_archived=query["include_archived"]), minimums)
        if not rows:
            st.info(f"None of the {len(runs)} matching run(s) has results reaching the minimums.")
            return
        # the selection comes back as row positions of the table the user saw: keep its ids
        st.session_state["runs.shown_ids"] = [row["id"] for row in rows]
        st.dataframe(rows, hide_index=True, width="stretch", column_config={
            "progress": st.column_config.ProgressColumn("progress", min_value=0.0, max_value=1.0, format="percent"),
            **{column: st.column_config.NumberColumn(column, format="percent") for column in RESULT_COLUMNS[:4]},
            "overhead": st.column_config.NumberColumn("overhead", format="%.2f×",
                                                      help="TASER's training step time over its base part"),
            "open": st.column_config.LinkColumn("open", display_text="details"),
            "clone": st.column_config.LinkColumn("clone", display_text="clone with edits",
                                                 help="the Launch form pre-filled from this run"),
        }, key=_table_key(), on_select=_remember_selection, selection_mode="multi-row")
        selection_actions()
        _show_action_message()
        active = [run for run in runs if run["status"] in ACTIVE_STATES][:10]
        for run in active:
            eta = format_eta(run["eta_s"])
            st.progress(run["progress"] or 0.0, text=f"{STATUS_ICONS[run['status']]} #{run['id']} "
                        f"{run['name'] or run['kind']}: {run['status']} {run['progress_message']}"
                        + (f" · ETA {eta}" if eta else ""))
        latest = ", ".join(f"{STATUS_ICONS.get(run['status'], '')} #{run['id']} {run['name'] or run['kind']} "
                           f"{run['status']}" for run in runs[:5])
        running = sum(run["status"] == "running" for run in runs)
        st.caption(f"{len(rows)} run(s), {running} running" + (f" · refreshing every {every:g} s" if every else "")
                   + f" · newest: {latest}")

    table()


def _table_key() -> str:
    # a new key draws the table without the ticks of rows that were just archived or deleted
    return f"runs.table.{st.session_state.get('runs.table_generation', 0)}"


def _forget_selection() -> None:
    st.session_state["runs.selected"] = []
    st.session_state["runs.table_generation"] = st.session_state.get("runs.table_generation", 0) + 1


def _remember_selection() -> None:
    positions = st.session_state[_table_key()]["selection"]["rows"]
    st.session_state["runs.selected"] = selected_ids(positions, st.session_state.get("runs.shown_ids", []))


def selection_actions() -> None:
    chosen = [run_id for run_id in st.session_state.get("runs.selected", [])
              if run_id in st.session_state.get("runs.shown_ids", [])]
    columns = st.columns([2, 2, 2, 5])
    columns[0].page_link("screens/compare.py", label=f"Compare selected ({len(chosen)})",
                         icon=":material/compare_arrows:", query_params=compare_query(chosen),
                         disabled=not chosen)
    columns[1].button("Archive selected", key="runs.archive_selected", disabled=not chosen,
                      on_click=_set_archived, args=(tuple(chosen), True))
    columns[2].button("Restore selected", key="runs.restore_selected", disabled=not chosen,
                      on_click=_set_archived, args=(tuple(chosen), False))
    columns[3].caption("Tick rows in the table to compare, archive or restore them"
                       + (f" · selected: {', '.join(f'#{run_id}' for run_id in chosen)}" if chosen else "."))


def actions() -> None:
    from db import store

    st.subheader("Act on a run")
    run_id = st.number_input("Run id", min_value=1, step=1, value=None, key="runs.action_id")
    if run_id is None:
        return
    run_id = int(run_id)
    found = store.runs_by_id([run_id])
    action_area(run_id, action_refresh_s(found[0]["status"] if found else None))


def action_area(run_id: int, every: float | None) -> None:
    """The buttons for one run, re-read every `every` seconds while its job is active, so a
    cancel that the worker carries out later enables Re-queue without selecting the run again."""

    @st.fragment(run_every=every)
    def area() -> None:
        from db import store

        found = store.runs_by_id([run_id])
        if not found:
            st.warning(f"No run #{run_id}.")
            return
        run = found[0]
        if action_refresh_s(run["status"]) != every:  # became active or finished: refresh at the new rate
            st.rerun(scope="app")
        columns = st.columns([1, 1, 1, 1, 1, 3])
        columns[0].page_link("screens/run.py", label="Open", query_params={"run": str(run_id)})
        # on_click callbacks run before the area is drawn, so the buttons below show the new state
        columns[1].button("Cancel", key="runs.cancel", on_click=_cancel, args=(run_id, run["job_id"]),
                          disabled=run["status"] not in ACTIVE_STATES or run["cancel_requested"])
        columns[2].button("Re-queue", key="runs.requeue", on_click=_requeue, args=(run_id, run["job_id"]),
                          disabled=run["status"] not in ("failed", "cancelled"))
        if run["archived_at"]:
            columns[3].button("Restore", key="runs.restore", on_click=_set_archived, args=((run_id,), False))
            if run["status"] not in ACTIVE_STATES:
                with columns[4].popover("Delete", icon=":material/delete:"):
                    st.write(f"Delete run #{run_id} with its metrics, evaluation rows and files? "
                             "This cannot be undone.")
                    st.button(f"Delete run #{run_id}", key="runs.delete", type="primary", on_click=_delete,
                              args=(run_id,))
        else:
            columns[3].button("Archive", key="runs.archive", on_click=_set_archived, args=((run_id,), True))
        columns[5].caption(status_line(run, every))
        _show_action_message()

    area()


def _show_action_message() -> None:
    if "runs.action_message" in st.session_state:
        st.toast(st.session_state.pop("runs.action_message"))


def status_line(run: Mapping, every: float | None) -> str:
    """What the action area says of the run's job now (pure)."""
    line = f"{STATUS_ICONS.get(run['status'], '')} status: {run['status']}"
    if run["status"] == "running" and run["cancel_requested"]:
        line += " · cancel requested: it stops at its next step"
    if run.get("archived_at"):
        line += f" · archived {run['archived_at']}"
    return line + (f" · refreshing every {every:g} s" if every else "")


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


def _delete(run_id: int) -> None:
    from app.dashboard.common import artifact_root
    from app.run_lifecycle import delete_run

    try:
        deleted = delete_run(run_id, artifact_root())
    except ValueError as exc:
        st.session_state["runs.action_message"] = str(exc)
        return
    _forget_selection()
    st.session_state["runs.action_message"] = f"run #{run_id} deleted" if deleted else f"no run #{run_id}"
    st.session_state["runs.action_id"] = None


def _set_archived(run_ids: Sequence[int], archived: bool) -> None:
    from db import store

    change = store.archive_run if archived else store.restore_run
    done = [run_id for run_id in run_ids if change(run_id)]
    _forget_selection()
    st.session_state["runs.action_message"] = (
        f"{'archived' if archived else 'restored'}: {', '.join(f'#{run_id}' for run_id in done) or 'nothing'}"
        + (" (shown again with “Show archived”)" if archived else ""))

