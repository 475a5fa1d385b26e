"""Paper check: the paper's Tables 1–3 beside ours for the same settings, with a verdict per claim."""

from __future__ import annotations

import streamlit as st

from app.dashboard.common import page_body

PAPER_OVERHEAD_STANDARD = 2.45  # Table 2/3: ×2.45 for standard training on ResNet-18 (the paper's figure)


def render() -> None:
    st.title("Paper check")
    st.caption("The paper's numbers beside ours. Table 1 is the 1D toy; Tables 2–3 are CIFAR-10 / "
               "ResNet-18 in the paper — runs on other data (e.g. the digits demo) are shown for the "
               "direction of each effect, not the value.")
    for section in (study_claims, table1, tables23, overhead):  # one failing section must not hide the others
        page_body(section)


def table1() -> None:
    from db import store

    from app.table1 import ood_pairs, table1_check
    from taser_engine.experiments.paper_tables import PAPER_TABLE1

    st.subheader("Table 1 — 1D extrapolation")
    paper = PAPER_TABLE1
    studies = [run for run in store.finished_results("toy1d") if _same_as_paper(run["config"])
               and (run["summary"] or {}).get("rows")]
    # the study covering most of the paper's λ grid (newest first among equals)
    study = max(studies, key=lambda run: len({row["lambda"] for row in run["summary"]["rows"]}
                                             & {row["lambda"] for row in paper}), default=None)
    rows = study["summary"]["rows"] if study else []
    if study:
        st.caption(f"ours: run #{study['id']} (Gaussian inputs, sin target, as in the paper)")
    else:
        st.caption("ours: no finished study with the paper's setting (Gaussian inputs, sin target) yet.")
    st.dataframe(table1_check(rows, paper), hide_index=True, width="stretch")
    if rows:
        from app.figures.paper import paper_vs_ours

        st.plotly_chart(paper_vs_ours(ood_pairs(rows, paper), title="Table 1 OOD MSE: paper and ours",
                                      value_label="OOD MSE"), width="stretch", key="paper.t1")


def _same_as_paper(config: dict) -> bool:
    return config.get("distribution", "gaussian") == "gaussian" and config.get("target", "sin") == "sin"


def tables23() -> None:
    from app.dashboard.common import evaluation_results, run_label
    from app.dashboard.selection import url_run_multiselect
    from app.dashboard.views.robustness import table_runs

    from taser_engine.evaluation import tables

    st.subheader("Tables 2 and 3 — robustness")
    candidates = {}  # evaluations that say their method and TASER side, newest first
    for run, result in evaluation_results():
        try:
            candidates[run["id"]] = (run, result, result.run_eval(source=f"#{run['id']}"))
        except Exception:  # noqa: BLE001 - evaluations without method/TASER labels cannot be paired
            continue
    labels = {run_id: f"{run_label(run)} ({tables.slot_title(evaluation)})"
              for run_id, (run, _, evaluation) in candidates.items()}
    by_source = {evaluation.source: run_id for run_id, (_, _, evaluation) in candidates.items()}
    newest, _ = tables.newest_per_slot([evaluation for _, _, evaluation in candidates.values()])
    chosen = url_run_multiselect("Evaluations in our Tables 2–3", labels,
                                 [by_source[evaluation.source] for evaluation in newest], key="paper.runs",
                                 help="By default the newest evaluation of each method with and without TASER; "
                                      "of two chosen for the same cell, the newer is used.")
    runs, notes = table_runs([(f"#{run_id}", candidates[run_id][1]) for run_id in candidates if run_id in chosen])
    if runs:
        st.caption("ours from: " + ", ".join(f"{run.source} ({tables.slot_title(run)})" for run in runs))
    for note in notes:
        st.caption(note)
    for layout in ("table2", "table3"):
        left, right = st.columns(2)
        with left:
            paper = tables.paper_table(layout)
            st.caption(paper.title)
            st.dataframe([dict(zip(paper.columns, cells)) for cells in paper.cells], hide_index=True)
        with right:
            st.caption(f"ours ({layout})")
            try:
                ours = tables.build_table(layout, runs)
            except Exception as exc:  # noqa: BLE001 - no or unpaired evaluations: say why
                st.info(f"not available: {exc}")
                continue
            st.dataframe([dict(zip(ours.columns, cells)) for cells in ours.cells], hide_index=True)


def study_claims() -> None:
    """A verdict per claim of the paper's Tables 2 / 3 from one study's numbers (seeds and all)."""
    from app.studies.service import study_state
    from app.studies.tables import point_label, point_tables
    from app.studies.verdicts import claim_verdicts
    from db import store

    st.subheader("The paper's robustness claims, on a study")
    records = store.list_studies()
    if not records:
        st.info("No study yet: a study (Launch page, or `taser study run --preset table2-digits`) runs every "
                "method with and without TASER over several seeds, and its verdicts appear here.")
        return
    record = st.selectbox("Study", records, format_func=lambda r: f"#{r.id} {r.name}", key="paper.study")
    state = study_state(record.id)
    pairs = list(zip(point_tables(state, "table2"), point_tables(state, "table3")))
    for table2, table3 in pairs:
        if len(pairs) > 1:
            st.caption(point_label(table2.point))
        if table2.table is None or table3.table is None:
            st.info(f"not available yet: {table2.problem or table3.problem}")
            continue
        st.dataframe(claim_verdicts(table2.table, table3.table), hide_index=True, width="stretch")


def overhead() -> None:
    from db import store

    st.subheader("Overhead — first-order TASER on ResNet-18")
    runs = [run for run in store.finished_results("bench-overhead") if (run["summary"] or {}).get("rows")]
    rows = [row for run in runs[:1] for row in run["summary"]["rows"]
            if row["model"] == "resnet18" and row["laplacian"] == "none"]
    ours = ", ".join(f"{row['method']} on {row['device']}: ×{row['ratio']:.2f}" for row in rows) or "not run yet"
    st.dataframe([{"quantity": "training time with / without TASER (standard training)",
                   "paper": f"×{PAPER_OVERHEAD_STANDARD}", "ours": ours}], hide_index=True, width="stretch")
