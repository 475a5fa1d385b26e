"""The Study form of the Launch page: a preset, its seeds and `field=v1,v2` settings, the number
of jobs and an estimated time, then one button that queues the whole study.

The same `with_settings` / `plan_study` as `taser study run`, so the form and the CLI refuse and
accept the same studies with the same messages.
"""

from __future__ import annotations

import streamlit as st


def study_form() -> None:
    from app.studies.estimate import estimate_plan
    from app.studies.presets import STUDY_PRESETS, study_preset
    from app.studies.service import start_study
    from app.studies.spec import StudySpecError, parse_setting, plan_study, with_settings
    from db import store

    st.caption("A study queues a whole grid at once: methods × without/with TASER × seeds × any swept field, "
               "each training followed by its evaluation (AutoAttack + SPSA), with Table 2 / 3 at the end.")
    preset = st.selectbox("Preset", sorted(STUDY_PRESETS), key="study.preset")
    spec = study_preset(preset)
    columns = st.columns([1, 3])
    seeds = columns[0].number_input("Seeds", min_value=1, max_value=100, value=len(spec.seeds), key="study.seeds")
    name = columns[1].text_input("Name", value=spec.name, key="study.name")
    settings_text = st.text_area(
        "Settings (one per line: field=value fixes a field, field=v1,v2,… sweeps it)", key="study.settings",
        placeholder="epochs=2\ntaser_lambda=0.01,0.03,0.1", height=100)
    lines = [line for line in settings_text.splitlines() if line.strip()]
    try:
        settings = {"seeds": [int(seeds)], **dict(parse_setting(line) for line in lines)}
        spec = with_settings(spec, settings, study_name=name if name.strip() else None)
        plan = plan_study(spec)
    except StudySpecError as exc:
        st.error(str(exc))
        return
    roles: dict[str, int] = {}
    for job in plan:
        roles[job.role] = roles.get(job.role, 0) + 1
    estimate = estimate_plan(plan, store.finished_job_times(list(roles)), spec.dataset)
    st.info(f"**{len(plan)} jobs** ({', '.join(f'{n} {r}' for r, n in roles.items())}); {estimate.describe()}.")
    if st.button("Queue study", type="primary", key="study.queue"):
        study_id = start_study(spec, preset=preset)
        st.success(f"Queued study {study_id} ({len(plan)} jobs).")
        st.page_link("screens/studies.py", label=f"Open study {study_id}", icon=":material/grid_view:",
                     query_params={"study": str(study_id)})
