"""Robustness: Table 2 and Table 3 layouts with bootstrap confidence intervals, bar charts with
error bars, gradient-masking flags, and exports (CSV, Markdown, LaTeX, figures as HTML / PNG)."""

from __future__ import annotations

import streamlit as st

from app.dashboard.common import run_label


def evaluation_runs() -> list[dict]:
    from db import store

    from app.results import is_evaluation

    return [run for kind in ("evaluate",) for run in store.finished_results(kind, limit=200)
            if is_evaluation(run["summary"])]


def render() -> None:
    from app.figures.robustness import accuracy_bars
    from app.results import masking_details, robustness_rows

    st.title("Robustness")
    runs = evaluation_runs()
    stored_rows()
    if not runs:
        st.info("No finished `evaluate` run yet. Evaluations appear here with clean, AutoAttack and SPSA "
                "accuracy, bootstrap confidence intervals and gradient-masking checks.")
        return
    labels = {run["id"]: run_label(run) for run in runs}
    chosen = st.multiselect("Evaluations", list(labels), default=list(labels)[:12], format_func=labels.get,
                            key="robust.runs")
    picked = [(labels[run["id"]], run["summary"]) for run in runs if run["id"] in chosen]
    if not picked:
        return
    table, bars = robustness_rows(picked)
    st.subheader("Per evaluation (95% percentile bootstrap over the evaluated points)")
    st.dataframe(table, hide_index=True, width="stretch")
    figure = accuracy_bars(bars)
    st.plotly_chart(figure, width="stretch", key="robust.bars")
    flags = masking_details(picked)
    st.subheader("Gradient-masking checks")
    if flags:
        st.dataframe(flags, hide_index=True, width="stretch")
    else:
        st.caption("These evaluations recorded no checks.")
    paper_layouts([(labels[run["id"]], run["summary"]) for run in runs if run["id"] in chosen])
    exports("robustness", table, figure)


def paper_layouts(picked: list[tuple[str, dict]]) -> None:
    from taser_engine.evaluation import tables

    runs, problems = [], []
    for label, summary in picked:
        try:
            runs.append(tables.RunEval.from_json(summary, source=label))
        except Exception as exc:  # noqa: BLE001 - one unusable evaluation must not hide the others
            problems.append(str(exc))
    for problem in problems:
        st.caption(f"left out of the paper tables: {problem}")
    if not runs:
        return
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
    """Evaluation rows stored per attack through the db API (e.g. by training jobs)."""
    from db import store

    rows = store.list_evaluations(with_per_sample=False)
    if rows:
        with st.expander(f"{len(rows)} stored per-attack evaluation row(s)"):
            st.dataframe([row.to_dict() for row in rows], hide_index=True, width="stretch")


def exports(stem: str, table: list[dict], figure) -> None:
    from taser_engine import text_tables

    st.subheader("Export")
    columns = st.columns(5)
    columns[0].download_button("CSV", text_tables.to_csv(table), file_name=f"{stem}.csv", key=f"{stem}.csv")
    columns[1].download_button("Markdown", text_tables.to_markdown(table), file_name=f"{stem}.md", key=f"{stem}.md")
    columns[2].download_button("LaTeX", text_tables.to_latex(table, caption=stem), file_name=f"{stem}.tex",
                               key=f"{stem}.tex")
    columns[3].download_button("Figure (HTML)", figure.to_html(include_plotlyjs=True, full_html=True),
                               file_name=f"{stem}.html", key=f"{stem}.html")
    if columns[4].button("Figure (PNG)", key=f"{stem}.png_make"):
        try:
            from app.figures.export import png_bytes

            png = png_bytes(figure, width=1100, height=500)
        except Exception as exc:  # noqa: BLE001 - kaleido missing or broken: say so, keep the page
            st.warning(f"PNG export needs kaleido: {exc}")
        else:
            st.download_button("download PNG", png, file_name=f"{stem}.png", key=f"{stem}.png")
