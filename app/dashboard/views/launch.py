"""Launch: one form per registered job kind, generated from its pydantic config, with presets.

Nothing is queued unless the config validates; each validation error is shown under its field.
"""

from __future__ import annotations

import streamlit as st

from app.dashboard.forms import error_messages, field_specs, render_form
from app.dashboard.presets import apply_preset, presets_for
from app.dashboard.study_form import study_form
from app.submission import RunOptions, split_tags

# Kinds shown first (the product's own); the rest (test kinds like noop/count) follow.
PREFERRED_ORDER = ("train", "finetune", "score-model", "evaluate", "toy1d", "bench-overhead", "demo")


def ordered_kinds(names: list[str]) -> list[str]:
    return sorted(names, key=lambda name: (PREFERRED_ORDER.index(name) if name in PREFERRED_ORDER
                                           else len(PREFERRED_ORDER), name))


# A run a form field names, and the kinds of run that can fill it when the preset leaves it empty.
RUN_FIELD_KINDS = {"model_run": ("train", "finetune"), "source_run": ("train", "finetune"),
                   "score_model_run": ("score-model",)}


def with_newest_runs(config_class, values: dict) -> dict:
    """Required run fields the preset leaves empty start at the newest finished run that fits,
    so a form can be queued as it loads (the user picks another run as easily)."""
    from db import store

    filled = dict(values)
    for name, kinds in RUN_FIELD_KINDS.items():
        info = config_class.model_fields.get(name)
        if info is None or not info.is_required() or filled.get(name) is not None:
            continue
        newest = store.list_runs(kind=list(kinds), status=["succeeded"], limit=1, light=True)
        if newest:
            filled[name] = newest[0]["id"]
    return filled


def render() -> None:
    from app.jobs import get_kind, kind_names

    st.title("Launch a run")
    demo_launcher()
    with st.expander("Study: a whole grid of runs (Table 2 and beyond) in one action",
                     icon=":material/grid_view:", expanded=st.query_params.get("form") == "study"):
        study_form()
    model_importer()
    kinds = ordered_kinds(kind_names())
    requested = st.query_params.get("kind")
    kind = st.selectbox("Job kind", kinds, index=kinds.index(requested if requested in kinds else kinds[0]),
                        key="launch.kind")
    config_class = get_kind(kind).config_class
    presets = presets_for(kind)
    preset = st.selectbox("Preset", list(presets), key=f"launch.{kind}.preset")
    values, unknown = apply_preset(config_class, presets[preset])
    values = with_newest_runs(config_class, values)
    if unknown:
        st.caption(f"Preset fields this config does not have (ignored): {', '.join(unknown)}")
    if config_class.__doc__:
        st.caption(config_class.__doc__.strip().splitlines()[0])
    specs = field_specs(config_class)
    with st.form(key=f"launch.{kind}.form"):
        raw, placeholders = render_form(specs, values, key_prefix=f"launch.{kind}.{preset}")
        st.divider()
        meta = st.columns(3)
        options = {"name": meta[0].text_input("Run name", key=f"launch.{kind}.name"),
                   "tags": split_tags(meta[1].text_input("Tags (comma-separated)", key=f"launch.{kind}.tags")),
                   "priority": int(meta[2].number_input("Priority (higher runs first)", value=0, step=1,
                                                        key=f"launch.{kind}.priority"))}
        meta_holders = {"name": meta[0].empty(), "tags": meta[1].empty(), "priority": meta[2].empty()}
        submitted = st.form_submit_button("Queue this run", type="primary")
    if submitted:
        queue_form(kind, config_class, raw, placeholders, options, meta_holders)


def queue_form(kind: str, config_class, raw: dict, placeholders: dict, options: dict, meta_holders: dict) -> None:
    from app.submission import SubmissionError, submit

    problems: dict[str, list[str]] = {}
    config = _validated(config_class, raw, placeholders, problems)
    run_options = _validated(RunOptions, options, meta_holders, problems)
    if problems:
        fields = ", ".join(field or "(config)" for field in problems)
        st.error(f"Nothing was queued: fix the highlighted field(s): {fields}.")
        return
    try:
        job_id, run_id = submit(kind, config, run_options)
    except SubmissionError as exc:
        st.error(f"Nothing was queued: {exc}.")
        return
    st.success(f"Queued job {job_id} (run #{run_id}).")
    st.page_link("screens/run.py", label=f"Open run #{run_id}", query_params={"run": str(run_id)})


def _validated(model, values: dict, holders: dict, problems: dict):
    """`model` validated from `values`, or None with each error shown under its field and added to `problems`."""
    from pydantic import ValidationError

    try:
        return model.model_validate(values)
    except ValidationError as exc:
        found = error_messages(exc)
    for field, messages in found.items():
        holder = holders.get(field) or holders.get(field.split(".")[0])
        if holder is not None:
            holder.error("; ".join(messages))
    problems.update(found)
    return None


def model_importer() -> None:
    """Upload a trained model (weights + model.json) to evaluate or fine-tune it by run id."""
    from app.imports import MAX_WEIGHTS_BYTES, ImportRejected, import_model
    from taser_engine.datasets import DATASETS

    with st.expander("Import a model: evaluate or fine-tune a classifier trained elsewhere"):
        st.caption(f"Weights as .safetensors or a PyTorch state dict (.pt, read with weights_only; code in a "
                   f"pickle is refused), at most {MAX_WEIGHTS_BYTES // 1024**2} MiB, and the model.json that "
                   "describes the architecture.")
        with st.form("launch.import.form"):
            weights = st.file_uploader("Weights", type=["safetensors", "pt", "pth"], key="launch.import.weights")
            spec = st.file_uploader("model.json", type=["json"], key="launch.import.spec")
            columns = st.columns(3)
            dataset = columns[0].selectbox("Dataset", sorted(DATASETS), key="launch.import.dataset")
            method = columns[1].text_input("Training method (label)", "imported", key="launch.import.method")
            taser = columns[2].checkbox("Trained with TASER", key="launch.import.taser")
            submitted = st.form_submit_button("Import")
        if not submitted:
            return
        if weights is None or spec is None:
            st.error("Choose both the weights file and its model.json.")
            return
        try:
            run_id = import_model(weights.name, weights.getvalue(), spec.getvalue(), dataset, method, taser)
        except ImportRejected as exc:
            st.error(f"Not imported: {exc}")
            return
        st.success(f"Imported as run #{run_id}: evaluate it with the `evaluate` kind (model_run = {run_id}).")


def demo_launcher() -> None:
    with st.expander("Demo: queue every job kind on the bundled data"):
        preset = st.radio("Demo preset", ["quick (under 5 minutes on a CPU)", "full (under 30 minutes)"],
                          key="launch.demo.preset", horizontal=True)
        if st.button("Queue the demo", key="launch.demo.queue"):
            from app.demo import queue_demo

            queued, notes = queue_demo(quick=preset.startswith("quick"))
            if queued:
                st.success(f"Queued {len(queued)} job(s): " + ", ".join(f"{item['key']} (run #{item['run_id']})"
                                                                        for item in queued))
            for note in notes:
                st.caption(note)
