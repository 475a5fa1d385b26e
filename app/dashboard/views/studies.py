"""Studies: every study with its state, and one study's grid of cells, tables, λ plot and exports.

A study page refreshes while the study runs (the grid recolours and the tables fill in as
evaluations finish) and stops refreshing once nothing of it is queued or running.
"""

from __future__ import annotations

import json

import streamlit as st

from app.dashboard.common import NotAvailable

REFRESH_S = 3.0


def render() -> None:
    study = st.query_params.get("study")
    if study:
        try:
            study_page(int(study))
        except ValueError:
            raise NotAvailable(f"'{study}' is not a study id") from None
        return
    study_list()


def list_rows(records, states) -> list[dict]:
    """Rows for st.dataframe (pure)."""
    return [{"id": r.id, "name": r.name, "preset": r.preset or "", "status": s.status,
             "jobs": len(s.cells), "progress": s.progress, "created": r.created_at.isoformat(timespec="seconds"),
             "open": f"studies?study={r.id}"} for r, s in zip(records, states)]


def study_list() -> None:
    """The studies as a table. It opens as paper_check.study_claims does (the studies, or how to
    start one): alike in shape only, the messages and what follows differ."""
    from app.studies.service import study_state
    from db import store

    st.title("Studies")
    records = store.list_studies()
    if not records:
        st.info("No studies yet. Start one from the Launch page (its Study box) or with "
                "`taser study run --preset table2-digits`.")
        return
    states = [study_state(r.id, with_summaries=False) for r in records]
    st.dataframe(list_rows(records, states), hide_index=True, width="stretch", column_config={
        "progress": st.column_config.ProgressColumn("progress", min_value=0.0, max_value=1.0, format="percent"),
        "open": st.column_config.LinkColumn("open", display_text="open"),
    }, key="studies.table")


def study_page(study_id: int) -> None:
    from app.studies.service import StudyError, study_state

    try:
        state = study_state(study_id, with_summaries=False)
    except StudyError as exc:
        raise NotAvailable(str(exc)) from None
    st.title(f"Study {study_id}: {state.study.name}")
    st.page_link("screens/studies.py", label="All studies", icon=":material/arrow_back:")
    actions(study_id)
    live = not state.finished

    @st.fragment(run_every=REFRESH_S if live else None)
    def body() -> None:
        study_body(study_state(study_id))

    body()


def actions(study_id: int) -> None:
    from app.studies.service import cancel_study, retry_study

    left, right, _ = st.columns([1, 1, 4])
    if left.button("Cancel study", key="study.cancel", icon=":material/stop:"):
        st.toast(f"cancelled {cancel_study(study_id)} queued or running job(s)")
    if right.button("Retry failed", key="study.retry", icon=":material/replay:"):
        requeued, queued = retry_study(study_id)
        st.toast(f"re-queued {requeued} job(s), queued {queued} new")


def study_body(state) -> None:
    from app.figures.study import accuracy_against, cell_grid
    from app.studies.tables import cell_row, evaluation_cells, point_label, point_tables, study_json
    from taser_engine.evaluation.tables import render as render_table

    counts = state.counts
    metrics = st.columns(4)
    metrics[0].metric("State", state.status)
    metrics[1].metric("Progress", f"{100 * state.progress:.0f}%")
    metrics[2].metric("Jobs", f"{counts.get('succeeded', 0)} / {len(state.cells)} done")
    metrics[3].metric("Wall time", "–" if state.wall_s is None else f"{state.wall_s / 60:.1f} min")
    failed = [c for c in state.cells if c.status == "failed"]
    if failed:
        st.warning(f"{len(failed)} job(s) failed; the first: {failed[0].name}: {(failed[0].error or '')[:300]}")
    rows = [cell_row(c) for c in evaluation_cells(state)]
    st.plotly_chart(cell_grid(rows), width="stretch", key="study.grid")
    with st.expander("Cells", expanded=False):
        st.dataframe([{**{k: v for k, v in r.items() if k != "error"}, "open": f"run?run={r['run_id']}" if r["run_id"] else None}
                      for r in rows], hide_index=True, width="stretch", column_config={
            "open": st.column_config.LinkColumn("open", display_text="run"),
            **{k: st.column_config.NumberColumn(k, format="percent") for k in ("clean", "autoattack", "spsa", "robust_avg")},
        }, key="study.cells")

    layout = st.radio("Table", ["table2", "table3"], horizontal=True, key="study.layout",
                      format_func=lambda v: {"table2": "Table 2 (Δ with CI)", "table3": "Table 3 (AA, SPSA, time)"}[v])
    tables = point_tables(state, layout)
    for table in tables:
        if len(tables) > 1:
            st.subheader(point_label(table.point))
        if table.table is None:
            st.info(table.problem)
        else:
            st.markdown(render_table(table.table, "md"))

    swept = list(state.study.spec.get("sweep") or {})
    if swept:
        field = st.selectbox("Swept field", swept, key="study.field") if len(swept) > 1 else swept[0]
        st.plotly_chart(accuracy_against(rows, field), width="stretch", key="study.against")
    penalty_section(state)

    answer = study_json(state)
    st.subheader("Export")
    columns = st.columns(4)
    columns[0].download_button("Study JSON", json.dumps(answer, indent=2, default=str), f"study-{state.study.id}.json",
                               mime="application/json", key="study.json")
    finished = [t for t in tables if t.table is not None]
    for column, fmt, mime in ((columns[1], "md", "text/markdown"), (columns[2], "csv", "text/csv"),
                              (columns[3], "latex", "text/x-tex")):
        column.download_button(f"{layout} ({fmt})", "\n\n".join(render_table(t.table, fmt) for t in finished),
                               f"study-{state.study.id}-{layout}.{'tex' if fmt == 'latex' else fmt}", mime=mime,
                               disabled=not finished, key=f"study.export.{fmt}")


def penalty_section(state) -> None:
    """λ·R against the base loss for the TASER trainings the user picks (the scale question)."""
    from app.figures.study import penalty_scale
    from db import store

    trainings = [c for c in state.cells if c.role in ("train", "finetune") and c.cell.get("taser") and c.run_id]
    if not trainings:
        return
    st.subheader("Penalty against base loss")
    labels = {c.run_id: c.name.split(": ", 1)[-1] for c in trainings}
    picked = st.multiselect("TASER runs", list(labels), default=list(labels)[:3], format_func=labels.get,
                            key="study.penalty_runs")
    if picked:
        series = store.metric_series(picked, ["loss/base", "loss/taser", "lambda"], max_points=500)
        st.plotly_chart(penalty_scale({labels[r]: series.get(r, {}) for r in picked}), width="stretch",
                        key="study.penalty")
