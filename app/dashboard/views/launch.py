"""Launch: one form per registered job kind, generated from its pydantic config, with presets.

The form's fields are grouped as `app.config_groups` says (the runs a job reads and the TASER
switch first, then data, model, method, TASER, optimisation, evaluation, resources). Nothing is
queued unless the config validates; each validation error is shown under its field, and a reason
about the config as a whole (a model validator's) at the top of the form and under the field it
names. `launch?clone=<run id>` starts from that run (app/clones.py); `launch?kind=<kind>` opens a
kind's form, the test kinds' too.
"""

from __future__ import annotations

import streamlit as st

from app.clones import CLONE_PARAM, clone_note, copy_name
from app.dashboard.forms import error_messages, field_named_in, field_specs, render_form
from app.dashboard.presets import apply_preset, presets_for
from app.dashboard.study_form import study_form
from app.submission import RunOptions, split_tags

# Kinds shown first (the product's own); the rest (plug-in kinds) follow.
PREFERRED_ORDER = ("train", "finetune", "score-model", "evaluate", "toy1d", "bench-overhead", "demo")
# Kinds that check the queue and the worker, not experiments: left out of the kind selector, still
# opened by `launch?kind=count` (the browser test queues one).
TEST_KINDS = ("count", "noop")


def ordered_kinds(names: list[str]) -> list[str]:
    return sorted(names, key=lambda name: (PREFERRED_ORDER.index(name) if name in PREFERRED_ORDER
                                           else len(PREFERRED_ORDER), name))


def selectable_kinds(names: list[str], requested: str | None) -> list[str]:
    """The kinds the selector offers: every kind but the test kinds, and a test kind the URL asks for."""
    return ordered_kinds([name for name in names if name not in TEST_KINDS or name == requested])


# A run a form field names, and the kinds of run whose model it can read ("import": a model
# uploaded with the Import box).
RUN_FIELD_KINDS = {"model_run": ("train", "finetune", "import"), "source_run": ("train", "finetune", "import"),
                   "score_model_run": ("score-model",)}
# A job waits for the runs it reads, so a queued or running run may be named too.
PICKABLE_STATES = ("succeeded", "running", "queued")
MAX_PICKABLE_RUNS = 200  # newest first; an older run is still named by cloning or the CLI


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


def run_label(run) -> str:
    """"#12 name (kind)", with the state when the run has not finished."""
    state = "" if run["status"] == "succeeded" else f", {run['status']}"
    return f"#{run['id']} {run['name'] or ''}".rstrip() + f" ({run['kind']}{state})"


def run_choices(specs) -> dict[str, dict[int, str]]:
    """{run field of the form: {run id: label}} of the runs each may name."""
    from db import store

    found = {}
    for spec in specs:
        kinds = RUN_FIELD_KINDS.get(spec.name)
        if spec.widget == "run" and kinds:
            runs = store.list_runs(kind=list(kinds), status=list(PICKABLE_STATES), limit=MAX_PICKABLE_RUNS,
                                   light=True)
            found[spec.name] = {run["id"]: run_label(run) for run in runs}
    return found


def cloned_run():
    """The run `?clone=` names, or None (with a warning when it names none that can be cloned)."""
    from app.jobs import kind_names
    from db import store

    requested = st.query_params.get(CLONE_PARAM)
    if requested is None:
        return None
    runs = store.runs_by_id([int(requested)]) if requested.isdigit() and int(requested) < 2**31 else []
    if not runs:
        st.warning(f"There is no run #{requested} to clone; the form starts from a preset instead.")
        return None
    if runs[0]["kind"] not in kind_names():
        st.warning(f"Run #{requested} is of kind {runs[0]['kind']!r}, which cannot be queued here; "
                   "the form starts from a preset instead.")
        return None
    return runs[0]


def render() -> None:
    from app.jobs import get_kind, kind_names

    st.title("Launch a run")
    demo_launcher()
    with st.expander("Study: a whole grid of runs (Table 2 and beyond) in one action",
                     icon=":material/grid_view:", expanded=st.query_params.get("form") == "study"):
        study_form()
    model_importer()
    source = cloned_run()
    defaults = {"name": "", "tags": "", "notes": ""}
    if source is not None:
        kind = source["kind"]
        config_class = get_kind(kind).config_class
        st.info(f"Cloned from #{source['id']} ({kind}): its config, name and tags are filled in; change what "
                "should differ and queue it. The new run's notes say which run it was cloned from.")
        st.page_link("screens/run.py", label=f"cloned from #{source['id']}", icon=":material/content_copy:",
                     query_params={"run": str(source["id"])})
        values, unknown = apply_preset(config_class, source["config"] or {})
        key_prefix = meta_prefix = f"launch.{kind}.clone-{source['id']}"
        defaults = {"name": copy_name(source["name"], source["id"]), "tags": ", ".join(source["tags"]),
                    "notes": clone_note(source["id"])}
        if unknown:
            st.caption(f"Fields of the cloned config this kind no longer has (left out): {', '.join(unknown)}")
    else:
        requested = st.query_params.get("kind")
        kinds = selectable_kinds(kind_names(), requested)
        kind = st.selectbox("Job kind", kinds, index=kinds.index(requested if requested in kinds else kinds[0]),
                            key="launch.kind")
        st.caption(f"The test kinds ({', '.join(TEST_KINDS)}) are not listed: open them as "
                   f"`launch?kind={TEST_KINDS[0]}`.")
        config_class = get_kind(kind).config_class
        presets = presets_for(kind)
        preset = st.selectbox("Preset", list(presets), key=f"launch.{kind}.preset")
        values, unknown = apply_preset(config_class, presets[preset])
        values = with_newest_runs(config_class, values)
        key_prefix, meta_prefix = f"launch.{kind}.{preset}", f"launch.{kind}"
        if unknown:
            st.caption(f"Preset fields this config does not have (ignored): {', '.join(unknown)}")
    if config_class.__doc__:
        st.caption(config_class.__doc__.strip().splitlines()[0])
    specs = field_specs(config_class, kind)
    choices = run_choices(specs)
    with st.form(key=f"launch.{kind}.form"):
        whole_config = st.empty()  # a reason about the config as a whole goes here, above every field
        raw, placeholders = render_form(specs, values, key_prefix=key_prefix, run_choices=choices)
        st.divider()
        meta = st.columns(3)
        options = {"name": meta[0].text_input("Run name", defaults["name"], key=f"{meta_prefix}.name"),
                   "tags": split_tags(meta[1].text_input("Tags (comma-separated)", defaults["tags"],
                                                         key=f"{meta_prefix}.tags")),
                   "priority": int(meta[2].number_input("Priority (higher runs first)", value=0, step=1,
                                                        key=f"{meta_prefix}.priority")),
                   "notes": defaults["notes"]}
        meta_holders = {"name": meta[0].empty(), "tags": meta[1].empty(), "priority": meta[2].empty()}
        submitted = st.form_submit_button("Queue this run", type="primary")
    if submitted:
        queue_form(kind, config_class, raw, {**placeholders, "": whole_config}, options, meta_holders)


def queue_form(kind: str, config_class, raw: dict, placeholders: dict, options: dict, meta_holders: dict) -> None:
    """Validate and queue; `placeholders[""]` takes the reasons about the config as a whole."""
    from app.submission import SubmissionError, submit

    problems: dict[str, list[str]] = {}
    config = _validated(config_class, raw, placeholders, problems)
    run_options = _validated(RunOptions, options, meta_holders, problems)
    if problems:
        named = [field for field in problems if field]
        reasons = ([f"fix the highlighted field(s): {', '.join(named)}"] if named else []) + problems.get("", [])
        st.error(f"Nothing was queued: {'; '.join(reasons)}.")
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
        if field:
            holder = holders.get(field) or holders.get(field.split(".")[0])
            if holder is not None:
                holder.error("; ".join(messages))
            continue
        if "" in holders:
            holders[""].error("The config as a whole is refused: " + "; ".join(messages))
        for message in messages:  # also under the field a whole-config reason names
            named = field_named_in(message, holders)
            if named:
                holders[named].error(message)
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
        from app.commands.demo import FULL_TAKES, QUICK_TAKES  # what the CLI's help says, measured

        preset = st.radio("Demo preset", ["quick", "full"], key="launch.demo.preset", horizontal=True,
                          captions=[f"2 methods, with and without TASER: {QUICK_TAKES}",
                                    f"every method: {FULL_TAKES}"])
        st.caption("The demo's jobs run on a worker: the dashboard's own, or `taser worker`.")
        if st.button("Queue the demo", key="launch.demo.queue"):
            from app.demo import queue_demo

            queued, notes = queue_demo(quick=preset.startswith("quick"))
            if queued:
                st.success(f"Queued {len(queued)} job(s): " + ", ".join(f"{item['key']} (run #{item['run_id']})"
                                                                        for item in queued))
            for note in notes:
                st.caption(note)
