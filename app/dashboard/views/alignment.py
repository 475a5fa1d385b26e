"""Score field & alignment: on 2D data the score field with a classifier's input gradients drawn
over it, without and with TASER; on images the distribution of cosine(s, ∇f) and |sᵀ∇f| for
chosen runs, and example images with their score and gradient maps (when runs recorded them)."""

from __future__ import annotations

import streamlit as st

from app.dashboard.common import finished_with_results, page_body, run_label

ALIGNMENT_KINDS = ("evaluate", "train", "finetune", "score-model", "alignment")


def render() -> None:
    st.title("Score field & alignment")
    st.caption("TASER asks the classifier's sensitivity to follow the data: the Stein residual "
               "Δf + sᵀ∇f is small when ∇f moves along the score s = ∇log p.")
    page_body(two_d)  # each part fails alone, with its own message
    page_body(images)


def two_d() -> None:
    from app.figures.alignment import alignment_histograms, score_field_figure

    st.subheader("2D: two Gaussian classes")
    columns = st.columns(3)
    lam = columns[0].select_slider("TASER λ", [0.1, 0.3, 1.0, 3.0, 10.0], value=1.0, key="field.lam")
    separation = columns[1].slider("class separation", 0.5, 3.0, 1.5, 0.25, key="field.sep")
    steps = columns[2].select_slider("training steps", [100, 200, 300, 600], value=300, key="field.steps")
    if st.button("Train both models (about 3 s)", key="field.train"):
        with st.spinner("training without and with TASER..."):
            st.session_state["field.result"] = compute_field(lam, separation, steps)
    field = st.session_state.get("field.result")
    if field is None:
        st.caption("Press the button to train a plain and a TASER classifier on the same data.")
        return
    st.plotly_chart(score_field_figure(field), width="stretch", key="field.fig")
    st.plotly_chart(alignment_histograms({panel["title"]: panel for panel in field["panels"]}),
                    width="stretch", key="field.hist")
    st.dataframe([{"model": panel["title"], "train accuracy": panel["train_accuracy"],
                   "mean cosine(s, ∇f)": panel["cosine_mean"], "mean |sᵀ∇f|": panel["abs_directional_mean"]}
                  for panel in field["panels"]], hide_index=True)


@st.cache_data(show_spinner=False, max_entries=32)
def compute_field(lam: float, separation: float, steps: int) -> dict:
    """Both models, trained in a child process (never in the Streamlit server), cached per setting."""
    from app.dashboard.compute import run_isolated, score_field_2d

    return run_isolated(score_field_2d, lam, separation, steps)


def images() -> None:
    from app.figures.alignment import alignment_histograms, image_maps_figure
    from app.jobs.alignment import AlignmentBlock

    st.subheader("Images: alignment of chosen runs")
    page_body(alignment_launcher)
    measured = finished_with_results(
        ALIGNMENT_KINDS, lambda result: isinstance(getattr(result, "alignment", None), AlignmentBlock), limit=50)
    candidates = [run for run, _ in measured]
    blocks = {run["id"]: result.alignment for run, result in measured}
    if not candidates:
        st.info("No alignment measured yet: queue an `alignment` job for a run with a saved model (above).")
        return
    labels = {run["id"]: f"{run_label(run)} ({run['kind']})" for run in candidates}
    chosen = st.multiselect("Runs", list(labels), default=list(labels)[:2], format_func=labels.get,
                            key="field.runs")
    picked = [run for run in candidates if run["id"] in chosen]
    st.plotly_chart(alignment_histograms({labels[run["id"]]: blocks[run["id"]].model_dump() for run in picked}),
                    width="stretch", key="field.img_hist")
    examples = [item for run in picked for item in blocks[run["id"]].examples]
    if examples:
        st.plotly_chart(image_maps_figure(examples[:6]), width="stretch", key="field.maps")


def alignment_launcher() -> None:
    """Queue an `alignment` job for a finished run that saved a model (the work runs in the worker)."""
    from db import store

    from app.dashboard.common import run_dir
    from app.submission import SubmissionError, submit
    from taser_engine.checkpoints import WEIGHTS_FILE

    models = [run for run in store.list_runs(light=True, status=["succeeded"], limit=200)
              if run["kind"] != "alignment" and (run_dir(run["id"]) / WEIGHTS_FILE).exists()]
    if not models:
        st.caption("No finished run has saved a model yet (trainings do).")
        return
    labels = {run["id"]: f"{run_label(run)} ({run['kind']})" for run in models}
    columns = st.columns([3, 1, 1])
    chosen = columns[0].selectbox("Measure alignment of", list(labels), format_func=labels.get, key="field.model_run")
    n = columns[1].select_slider("test images", [64, 256, 1000], value=256, key="field.n")
    if columns[2].button("Queue", key="field.queue"):
        config = store.runs_by_id([chosen])[0]["config"] or {}
        try:
            job_id, _ = submit("alignment", {"model_run": chosen, "n": n, "dataset": config.get("dataset", "digits")},
                               {"name": f"alignment of #{chosen}"})
        except SubmissionError as exc:
            st.error(f"Nothing was queued: {exc}.")
            return
        st.success(f"Queued job {job_id}; the histograms appear here when it finishes.")
