"""1D extrapolation: the study's figure and Table 1 beside the paper's, plus sliders that
retrain one configuration in seconds."""

from __future__ import annotations

import streamlit as st

from app.dashboard.common import page_body, require, run_label
from app.results import paper_table1, table1_rows  # noqa: F401 (table1_rows: shared with the report)

LAMBDA_CHOICES = [0.0, 1e-4, 1e-3, 1e-2, 1e-1, 1.0]


def render() -> None:
    from db import dashboard_queries as dq

    from app.figures.extrapolation import error_vs_lambda, predictions_figure

    st.title("1D extrapolation (paper §5.1, Table 1)")
    st.caption("x ~ N(0, 1), y = sin(x); a small MLP trained with L2 weight decay or the Stein penalty "
               "f'' − x f'. In-distribution error on fresh samples, out-of-distribution error on a wide grid.")
    studies = [run for run in dq.finished_results("toy1d") if (run["summary"] or {}).get("rows")]
    if studies:
        labels = {run["id"]: run_label(run) for run in studies}
        chosen = st.selectbox("Study", list(labels), format_func=labels.get, key="toy1d.study")
        summary = next(run for run in studies if run["id"] == chosen)["summary"]
        if summary.get("curves"):
            st.plotly_chart(predictions_figure(summary["curves"]), width="stretch", key="toy1d.pred")
        paper = paper_table1()
        st.plotly_chart(error_vs_lambda(summary["rows"], paper), width="stretch", key="toy1d.err")
        st.subheader("Table 1: ours beside the paper")
        st.dataframe(table1_rows(summary["rows"], paper), hide_index=True, width="stretch")
        with st.expander("Every protocol choice of this study"):
            st.json(summary.get("settings", {}), expanded=False)
    else:
        st.info("No finished 1D study yet: launch a `toy1d` run (Launch page) or queue the demo (Home).")
    page_body(sliders)  # the sliders fail alone (e.g. engine missing), below the stored study


def sliders() -> None:
    st.subheader("Try one configuration")
    toy1d = require("taser_engine.experiments.toy1d", "Interactive 1D training")
    from app.figures.extrapolation import single_fit_figure

    fields = toy1d.Toy1DConfig.model_fields
    columns = st.columns(5)
    regulariser = columns[0].radio("Regulariser", ["stein", "l2"], key="toy1d.reg", horizontal=True)
    lam = columns[1].select_slider("λ", LAMBDA_CHOICES, value=1e-2, key="toy1d.lam")
    width = columns[2].select_slider("width", [8, 16, 32, 64, 128], value=64, key="toy1d.width")
    distribution = columns[3].selectbox("input distribution", _choices(fields["distribution"]), key="toy1d.dist")
    target = columns[4].selectbox("target", _choices(fields["target"]), key="toy1d.target")
    if st.button("Train this configuration", key="toy1d.train"):
        with st.spinner("training one model (a few seconds)..."):
            result = train_single(regulariser, lam, width, distribution, target)
        st.session_state["toy1d.single"] = result
    result = st.session_state.get("toy1d.single")
    if result:
        st.plotly_chart(single_fit_figure(result), width="stretch", key="toy1d.single_fig")


@st.cache_data(show_spinner=False, max_entries=64)
def train_single(regulariser: str, lam: float, width: int, distribution: str, target: str) -> dict:
    import dataclasses

    import torch

    from taser_engine.experiments.toy1d import train_single as engine_train_single

    torch.set_num_threads(1)  # a small model: extra threads only contend with the worker
    result = engine_train_single(regulariser, lam, width=width, distribution=distribution, target=target)
    return dataclasses.asdict(result) if dataclasses.is_dataclass(result) else dict(result)


def _choices(field) -> list:
    import typing

    return list(typing.get_args(field.annotation)) or [field.default]
