"""1D extrapolation: the study's figure and Table 1 beside the paper's, plus sliders that
retrain one configuration in seconds."""

from __future__ import annotations

import streamlit as st

from app.dashboard.common import finished_with_results, page_body, require, run_label, show_blocks

LAMBDA_CHOICES = [0.0, 1e-4, 1e-3, 1e-2, 1e-1, 1.0]


def render() -> None:
    from app.viewers import result_blocks

    st.title("1D extrapolation (paper §5.1, Table 1)")
    st.caption("x ~ N(0, 1), y = sin(x); a small MLP trained with L2 weight decay or the Stein penalty "
               "f'' − x f'. In-distribution error on fresh samples, out-of-distribution error on a wide grid.")
    studies = finished_with_results("toy1d", lambda result: bool(result.rows), limit=50)
    if studies:
        labels = {run["id"]: run_label(run) for run, _ in studies}
        chosen = st.selectbox("Study", list(labels), format_func=labels.get, key="toy1d.study")
        result = next(result for run, result in studies if run["id"] == chosen)
        show_blocks(result_blocks("toy1d", result), key="toy1d.study")  # what the report shows
        with st.expander("Every protocol choice of this study"):
            st.json(result.settings or {}, expanded=False)
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
    """One fit, trained in a child process (never in the Streamlit server), cached per setting."""
    from app.dashboard.compute import run_isolated, single_fit_1d

    return run_isolated(single_fit_1d, regulariser, lam, width, distribution, target)


def _choices(field) -> list:
    import typing

    return list(typing.get_args(field.annotation)) or [field.default]
