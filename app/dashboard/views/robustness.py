"""Robustness: Table 2 and Table 3 layouts with bootstrap confidence intervals, bar charts with
error bars, gradient-masking flags, and exports (CSV, Markdown, LaTeX, figures as HTML / PNG).

Accuracies come from the stored evaluation rows (one per attack, written with each evaluate
run); flags and the training labels the paper tables pair runs by come from the run's Result."""

from __future__ import annotations

import streamlit as st

from app.dashboard.common import evaluation_results, exports, run_label
from app.dashboard.selection import url_run_multiselect


def render() -> None:
    from db import store

    from app.figures.robustness import accuracy_bars
    from app.results import accuracies_from_rows, masking_details, robustness_rows

    st.title("Robustness")
    evaluated = evaluation_results()
    stored_rows()
    if not evaluated:
        st.info("No finished `evaluate` run yet. Evaluations appear here with clean, AutoAttack and SPSA "
                "accuracy, bootstrap confidence intervals and gradient-masking checks.")
        return
    labels = {run["id"]: run_label(run) for run, _ in evaluated}
    chosen = url_run_multiselect("Evaluations", labels, list(labels)[:12], key="robust.runs")
    picked = [(run, result) for run, result in evaluated if run["id"] in chosen]
    if not picked:
        return
    accuracies = accuracies_from_rows(store.list_evaluations([run["id"] for run, _ in picked]))
    # a run evaluated before its rows were stored keeps its accuracies in the summary only
    table, bars = robustness_rows([(labels[run["id"]], {**(accuracies.get(run["id"]) or result.stored()),
                                                        "flags": result.flags}) for run, result in picked])
    st.subheader("Per evaluation (95% percentile bootstrap over the evaluated points)")
    st.dataframe(table, hide_index=True, width="stretch")
    figure = accuracy_bars(bars)
    st.plotly_chart(figure, width="stretch", key="robust.bars")
    flags = masking_details([(labels[run["id"]], {"flags": result.flags}) for run, result in picked])
    st.subheader("Gradient-masking checks")
    if flags:
        st.dataframe(flags, hide_index=True, width="stretch")
    else:
        st.caption("These evaluations recorded no checks.")
    paper_layouts([(labels[run["id"]], result) for run, result in picked])
    exports("robustness", table, figure)


def table_runs(picked: list[tuple[str, object]]) -> tuple[list, list[str]]:
    """(the paper tables' runs, notes saying which evaluations were left out and why) from
    (label, Result) pairs newest first: the newest evaluation of each table cell is used."""
    from taser_engine.evaluation.tables import newest_per_slot, slot_title

    runs, notes = [], []
    for label, result in picked:
        try:
            runs.append(result.run_eval(source=label))
        except Exception as exc:  # noqa: BLE001 - one unusable evaluation must not hide the others
            notes.append(f"left out of the paper tables: {exc}")
    runs, replaced = newest_per_slot(runs)
    notes += [f"left out of the paper tables: {old.source}, as {new.source} is a newer evaluation of "
              f"{slot_title(new)}" for old, new in replaced]
    return runs, notes


def paper_layouts(picked: list[tuple[str, object]]) -> None:
    from taser_engine.evaluation import tables

    runs, notes = table_runs(picked)
    for note in notes:
        st.caption(note)
    if not runs:
        return
    st.caption("the paper layouts use: " + ", ".join(f"{run.source} ({tables.slot_title(run)})" for run in runs))
    for layout, title in (("table2", "Table 2 layout"), ("table3", "Table 3 layout")):
        st.subheader(title)
        try:
            table = tables.build_table(layout, runs)
        except Exception as exc:  # noqa: BLE001 - e.g. a method without its TASER counterpart
            st.warning(f"{title} cannot be built from these runs: {exc}")
            continue
        st.dataframe([dict(zip(table.columns, cells)) for cells in table.cells], hide_index=True,
                     width="stretch")
        if table.note:
            st.caption(table.note)
        columns = st.columns(3)
        for column, fmt, extension in zip(columns, ("csv", "md", "latex"), ("csv", "md", "tex")):
            column.download_button(f"{title}: {fmt}", data=tables.render(table, fmt),
                                   file_name=f"{layout}.{extension}", key=f"robust.{layout}.{fmt}")


def stored_rows() -> None:
    """Every stored per-attack evaluation row (evaluate jobs and imported evaluations write them)."""
    from db import store

    rows = store.list_evaluations(with_per_sample=False)
    if rows:
        with st.expander(f"{len(rows)} stored per-attack evaluation row(s)"):
            st.dataframe([row.to_dict() for row in rows], hide_index=True, width="stretch")
