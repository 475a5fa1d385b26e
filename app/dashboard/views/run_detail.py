"""A run's page: status, archive / restore and "clone with edits", an evaluation's numbers up
front or a training's evaluations as links, live metric curves (loss parts, λ(t), LR, Stein
statistics), config, summary (shown through the kind's result viewer, as in the HTML report),
stored evaluation rows, log tail and artifacts to download."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from app.clones import cloned_from
from app.dashboard.common import STATUS_ICONS, format_eta, run_dir, run_label, show_blocks

MAX_DOWNLOAD_BYTES = 200 * 1024 * 1024
EVALUATE_KIND = "evaluate"


def selected_run_id() -> int | None:
    """The run the picker shows: the URL's `run` when it changed since the page last wrote it (a
    link to another run, from this page too), else the picker's own choice, which the URL follows."""
    from db import store

    requested = st.query_params.get("run")
    requested_id = int(requested) if requested and requested.isdigit() else None
    runs = store.list_runs(light=True, limit=500)
    if requested_id is not None and requested_id not in {run["id"] for run in runs}:
        runs = store.runs_by_id([requested_id]) + runs  # an archived run, opened by its link
    if not runs:
        st.info("No runs yet.")
        return None
    ids = [run["id"] for run in runs]
    labels = {run["id"]: f"#{run['id']} {run['name'] or run['kind']} ({run['status']}"
                         + (", archived)" if run["archived_at"] else ")") for run in runs}
    if requested is not None and requested_id not in labels:
        st.warning(f"There is no run #{requested}; showing the newest one.")
    if requested_id in labels and requested != st.session_state.get("run.written"):
        st.session_state["run.select"] = requested_id
    elif st.session_state.get("run.select") not in labels:
        st.session_state["run.select"] = ids[0]
    chosen = st.selectbox("Run", ids, format_func=labels.get, key="run.select")
    # written even when unchanged: a page link to this page reruns it with the new query string
    # but leaves the browser's address as it was
    st.query_params["run"] = str(chosen)
    st.session_state["run.written"] = str(chosen)
    return chosen


def render() -> None:
    st.title("Run")
    run_id = selected_run_id()
    if run_id is None:
        return
    live_part(run_id)
    lifecycle_part(run_id)
    static_part(run_id)


def lifecycle_part(run_id: int) -> None:
    """Archive state, Clone with edits (and the run this one was cloned from), and how the run
    relates to its evaluations."""
    from db import store

    run = store.runs_by_id([run_id])[0]
    columns = st.columns([1, 1, 2, 4], vertical_alignment="center")
    if run["archived_at"]:
        columns[0].badge("archived", icon=":material/archive:", color="gray")
        columns[1].button("Restore", key="run.restore", on_click=_set_archived, args=(run_id, False),
                          help=f"archived {run['archived_at']}; restoring shows it in tables and results again")
    else:
        columns[0].button("Archive", key="run.archive", on_click=_set_archived, args=(run_id, True),
                          help="hide it from tables, pickers and result pages (nothing is deleted)")
    columns[2].page_link("screens/launch.py", label="Clone with edits", icon=":material/content_copy:",
                         query_params={"clone": str(run_id)})
    origin = cloned_from(run["notes"])
    if origin is not None:
        columns[3].page_link("screens/run.py", label=f"cloned from #{origin}",
                             icon=":material/subdirectory_arrow_right:", query_params={"run": str(origin)})
    if run["kind"] == EVALUATE_KIND:
        evaluation_numbers(store.get_run(run_id))
    else:
        evaluation_links(run_id)


def _set_archived(run_id: int, archived: bool) -> None:
    from db import store

    (store.archive_run if archived else store.restore_run)(run_id)


def evaluation_numbers(run: dict) -> None:
    """An evaluation's clean and per-attack robust accuracy, with bootstrap intervals, up front."""
    from app.jobs import parse_result
    from app.results import accuracies_from_rows, robustness_rows

    measured = accuracies_from_rows(run["evaluations"]).get(run["id"])
    result = parse_result(run["kind"], run["summary"])
    if measured is None and not getattr(result, "is_evaluation", False):
        return
    flags = getattr(result, "flags", [])
    table, _ = robustness_rows([(run_label(run), {**(measured or result.stored()), "flags": flags})])
    st.subheader("Results")
    st.dataframe(table, hide_index=True, width="stretch")


def evaluation_links(run_id: int) -> None:
    """A training's evaluations (runs whose `model_run` is it), newest first, as links."""
    from db import store

    evaluations = store.list_runs(kind=EVALUATE_KIND, model_run=run_id, light=True, limit=50)
    if not evaluations:
        return
    st.markdown(f"**Evaluations of this run** ({len(evaluations)})")
    for evaluation in evaluations:
        st.page_link("screens/run.py", label=f"{STATUS_ICONS.get(evaluation['status'], '')} "
                     f"{run_label(evaluation)} ({evaluation['status']})", query_params={"run": str(evaluation["id"])})


def live_part(run_id: int) -> None:
    from db import store

    status = (store.get_run(run_id) or {}).get("status")
    every = 2.0 if status in ("queued", "running") else None

    @st.fragment(run_every=every)
    def header_and_curves() -> None:
        from db import store

        from app.dashboard.charts import curve_controls, series_on_axis
        from app.figures.curves import BENCH_X_TITLE, group_keys, is_benchmark, metric_curves

        run = store.get_run(run_id)
        job = run["job"] or {}
        st.subheader(f"{STATUS_ICONS.get(run['status'], '')} {run_label(run)} · {run['kind']} · {run['status']}")
        if run["status"] in ("queued", "running"):
            st.progress(run["progress"] or 0.0,
                        text=f"{job.get('progress_message', '')} · ETA {format_eta(run['eta_s']) or '?'}")
        unmet = [d for d in run.get("dependencies", []) if d["status"] != "succeeded"]
        if run["status"] == "queued" and unmet:
            st.info("Waiting for " + ", ".join(f"run #{d['run_id']} ({d['status']})" for d in unmet)
                    + " to succeed before it can start.")
        if run["error"]:
            st.error(f"Failed: {run['error']}")
        series = store.metric_series([run_id]).get(run_id, {})
        if run["kind"] == EVALUATE_KIND:  # one point per attack: its Results table shows them, not curves
            series = {key: points for key, points in series.items() if key.startswith("system/")}
        if not series:
            if not run["evaluations"]:  # an evaluation records no curves; its numbers follow the header
                st.caption("No metrics recorded.")
            return
        groups = group_keys(list(series))
        bench = is_benchmark(run["kind"])  # one point per measured configuration: bars, not a curve
        settings = curve_controls("run", list(series), benchmark=bench)
        x_title = BENCH_X_TITLE if bench else settings.x_title
        if not bench and settings.axis != "step":
            drawn, _ = series_on_axis({run_id: series}, settings.axis)
            if run_id in drawn:
                series = drawn[run_id]
            else:
                st.caption(f"Nothing recorded to place this run on the {settings.axis} axis; showing steps.")
                x_title = "step"
        for tab, (group, keys) in zip(st.tabs(list(groups)), groups.items()):
            with tab:
                st.plotly_chart(metric_curves({run_label(run): series}, keys, log_y=settings.log_y,
                                              smoothing=settings.smoothing, x_title=x_title, bars=bench),
                                width="stretch", key=f"run.curves.{group}")

    header_and_curves()


def static_part(run_id: int) -> None:
    from db import store

    run = store.get_run(run_id)
    job = run["job"] or {}
    meta, notes = st.columns([2, 1])
    with meta:
        st.write(f"created {run['created_at']} · started {run['started_at'] or '-'} · finished "
                 f"{run['finished_at'] or '-'} · attempts {job.get('attempts', 0)} · tags "
                 f"{', '.join(run['tags']) or '-'}" + (f" · parent #{run['parent_run_id']}" if run["parent_run_id"] else ""))
    with notes:
        edit_notes(run)
    config_tab, summary_tab, eval_tab, log_tab, files_tab = st.tabs(
        ["Config", "Summary", "Evaluations", "Log tail", "Artifacts"])
    with config_tab:
        st.json(run["config"], expanded=True)
    with summary_tab:
        summary = run["summary"]
        if summary:
            from app.jobs import parse_result
            from app.viewers import result_blocks

            show_blocks(result_blocks(run["kind"], parse_result(run["kind"], summary)), key=f"run.result.{run_id}")
            st.json(_shorten(summary), expanded=1)
        else:
            st.caption("No summary yet (it is written when the run finishes).")
    with eval_tab:
        if run["evaluations"]:
            st.dataframe([{key: value for key, value in row.items() if key != "per_sample"}
                          for row in run["evaluations"]], hide_index=True)
        else:
            st.caption("No evaluation rows stored on this run: an `evaluate` run stores its own, and a "
                       "training's evaluations are linked under its header.")
    with log_tab:
        log_tail(job.get("id"), run["log_tail"], active=run["status"] in ("queued", "running"))
    with files_tab:
        artifact_downloads(run)


def log_tail(job_id: int | None, text: str, active: bool) -> None:
    """The job's log tail from the database (so a dashboard on another machine sees it too),
    re-read every 2 s while the job may still write to it (only the job's row: the run's
    evaluations and artifacts need not be read again)."""

    @st.fragment(run_every=2.0 if active and job_id is not None else None)
    def tail() -> None:
        from db import store

        job = store.get_job(job_id) if active and job_id is not None else None
        current, running = (job.log_tail, job.status in ("queued", "running")) if job else (text, False)
        if running:
            st.caption("live: refreshed every 2 s; the whole log is among the artifacts once the job ends")
        st.code(current or "(empty)", language=None)

    tail()


def edit_notes(run: dict) -> None:
    from app.submission import run_options, split_tags
    from db import store

    text = st.text_area("Notes", value=run["notes"] or "", key=f"run.notes.{run['id']}", height=80)
    tags = st.text_input("Tags (comma-separated)", value=", ".join(run["tags"] or []),
                         key=f"run.tags.{run['id']}")
    if st.button("Save notes and tags", key=f"run.notes_save.{run['id']}"):
        try:
            options = run_options(notes=text, tags=split_tags(tags))
        except ValueError as exc:
            st.error(f"Not saved: {exc}")
            return
        store.set_run_notes(run["id"], options.notes)
        saved = store.set_run_tags(run["id"], options.tags)
        st.toast(f"saved; tags: {', '.join(saved) or 'none'}")


def artifact_downloads(run: dict) -> None:
    from app.dashboard.common import artifact_root

    from app.paths import UnsafePathError, resolve_under_root

    root = artifact_root()
    files, refused = {}, []
    for item in run["artifacts"]:  # addressed by the database row, resolved under the root only
        try:
            files[resolve_under_root(item["path"], root)] = item["kind"]
        except UnsafePathError:
            refused.append(item["path"])
    folder = run_dir(run["id"])
    if folder.exists():
        for path in sorted(folder.rglob("*")):
            try:
                safe = resolve_under_root(path.relative_to(root), root)  # a symlink out is refused
            except UnsafePathError:
                refused.append(str(path.relative_to(root)))
                continue
            if safe.is_file():
                files.setdefault(safe, "file")
    for path in refused:
        st.warning(f"artifact {path!r} points outside the artifact root and is not served")
    if not files:
        st.caption("No artifacts.")
        return
    for index, (path, kind) in enumerate(sorted(files.items())):
        label = f"{path.name} ({kind}, {_size(path)})"
        if not path.exists():
            st.write(f"{label}: missing on disk")
        elif path.stat().st_size > MAX_DOWNLOAD_BYTES:
            st.write(f"{label}: too large to download here; path `{path}`")
        else:
            st.download_button(label, data=Path(path).read_bytes(), file_name=path.name,
                               key=f"run.download.{run['id']}.{index}")


def _size(path: Path) -> str:
    if not path.exists():
        return "?"
    size = path.stat().st_size
    return f"{size / 1024:.1f} KiB" if size < 1024**2 else f"{size / 1024**2:.1f} MiB"


def _shorten(value, max_list: int = 20):
    """Summaries may hold long curves; show their start and length instead of every number."""
    if isinstance(value, dict):
        return {key: _shorten(item, max_list) for key, item in value.items()}
    if isinstance(value, list) and len(value) > max_list:
        return [_shorten(item, max_list) for item in value[:max_list]] + [f"... {len(value) - max_list} more"]
    if isinstance(value, list):
        return [_shorten(item, max_list) for item in value]
    return value
