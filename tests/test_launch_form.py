"""The Launch form (issue 18: gap 5, clone, defect 5): grouped fields, run pickers, hidden test kinds,
cloning a run with edits, and reasons about the whole config shown where a user looks."""

from __future__ import annotations

import pytest

from app.clones import clone_note, cloned_from, copy_name
from app.config_groups import GROUPS, group_of, label_of
from app.dashboard.forms import field_named_in, field_specs
from app.dashboard.presets import DEFAULTS, presets_for
from app.dashboard.views.launch import TEST_KINDS, run_label, selectable_kinds
from db.entities import RUN_NAME_LENGTH


def test_train_fields_are_grouped_labelled_and_keep_their_flag():
    from app.jobs import get_kind

    specs = {spec.name: spec for spec in field_specs(get_kind("train").config_class, "train")}
    assert {spec.group for spec in specs.values()} <= set(GROUPS)
    assert specs["taser"].group == "inputs"  # the switch comes first
    assert (specs["dataset"].group, specs["arch"].group, specs["method"].group, specs["penalty"].group,
            specs["lr"].group, specs["gpus"].group) == ("data", "model", "method", "TASER", "optimisation",
                                                        "resources")
    assert specs["lr"].label == "learning rate" and "flag `--lr`" in specs["lr"].where
    assert specs["score_model_run"].widget == "run" and specs["kind"].widget == "fixed"
    # a choice that may be None is still a choice: a drop-down with "default (None)" first
    assert (specs["arch"].widget, specs["arch"].inner, specs["augment"].inner) == ("optional", "select", "checkbox")
    assert specs["penalty"].flag == ""  # a nested model has no flag; its fields have one each
    finetune = {spec.name: spec for spec in field_specs(get_kind("finetune").config_class, "finetune")}
    assert finetune["source"].widget == "filled" and finetune["source_run"].group == "inputs"
    nested = {child.name: child for child in specs["penalty"].children}
    assert nested["num_probes"].flag == "--num-probes"  # the flag the penalty field names (as `taser train`)
    # a field the table does not place is still shown, under "other"
    assert group_of("something_new", "train") == "other" and label_of("something_new") == "something new"
    assert group_of("batch_size", "evaluate") == "resources" and group_of("batch_size", "train") == "optimisation"


def test_test_kinds_leave_the_selector_unless_the_url_asks_for_one():
    names = ["noop", "count", "evaluate", "train", "my-plugin"]
    assert selectable_kinds(names, None) == ["train", "evaluate", "my-plugin"]
    assert "count" in selectable_kinds(names, "count") and "noop" not in selectable_kinds(names, "count")
    assert set(TEST_KINDS) == {"count", "noop"}


def test_presets_are_named_for_what_they_are():
    labels = list(presets_for("train"))
    assert labels[0] == DEFAULTS and not any(label.startswith("defaults (paper") for label in labels)
    assert any("CIFAR-10" in label for label in labels) and any(label.startswith("digits quick") for label in labels)


def test_clone_notes_and_names():
    assert cloned_from("first line\n" + clone_note(12) + "\nmore") == 12
    assert cloned_from("no origin here") is None and cloned_from(None) is None
    assert copy_name("resnet", 3) == "resnet (copy)" and copy_name(None, 3) == "run #3 (copy)"
    assert len(copy_name("x" * RUN_NAME_LENGTH, 3)) == RUN_NAME_LENGTH


def test_whole_config_reasons_name_their_field():
    message = "batch_size: 64 cannot give each of the 64 processes the 2 samples a step needs"
    assert field_named_in(message, {"batch_size": 1, "gpus": 2}) == "batch_size"
    assert field_named_in("something about everything", {"batch_size": 1}) is None


def test_run_labels_say_which_run_and_its_state():
    assert run_label({"id": 12, "name": "resnet", "kind": "train", "status": "succeeded"}) == "#12 resnet (train)"
    assert run_label({"id": 3, "name": None, "kind": "score-model", "status": "queued"}) == "#3 (score-model, queued)"


# ---------------------------------------------------------------- the page (AppTest)

@pytest.fixture
def launch_page(queue_db):
    pytest.importorskip("streamlit.testing.v1")
    from streamlit.testing.v1 import AppTest

    from tests.dashboard_support import MAIN

    def open_launch(query: dict | None = None):
        at = AppTest.from_file(str(MAIN), default_timeout=60).run()
        at.query_params.update(query or {})
        return at.switch_page("screens/launch.py").run()

    return open_launch


def queue(at):
    next(button for button in at.button if button.label == "Queue this run").click().run()
    assert not at.exception, [item.value for item in at.exception]


def test_a_cloned_run_is_queued_with_one_field_changed(launch_page):
    """Clone: the form starts from the run's kind, config, name and tags; the user changes one
    field; the new run's config is the old one but for that field, and it says where it came from."""
    from app.submission import submit
    from db import store

    source = submit("count", {"steps": 12, "lr": 0.3, "x0": 2.0}, {"name": "count-b", "tags": ["b", "lr"]}).run_id
    trained = store.record_finished_run("train", {"epochs": 1}, {}, name="trained")
    at = launch_page({"clone": str(source)})
    assert not at.error, [item.value for item in at.error]
    assert any(f"Cloned from #{source}" in item.value for item in at.info)
    prefix = f"launch.count.clone-{source}"
    assert at.text_input(key=f"{prefix}.name").value == "count-b (copy)"
    assert at.text_input(key=f"{prefix}.tags").value == "b, lr"
    at.number_input(key=f"{prefix}.steps").set_value(7)
    assert at.number_input(key=f"{prefix}.x0").value == 2.0
    queue(at)
    assert any("Queued job" in item.value for item in at.success)
    new, old = store.list_runs(limit=1)[0], store.runs_by_id([source])[0]
    assert new["id"] != source and new["kind"] == "count"
    assert new["config"] == {**old["config"], "steps": 7}
    assert (new["name"], new["tags"]) == ("count-b (copy)", ["b", "lr"])
    assert cloned_from(new["notes"]) == source and new["parent_run_id"] is None  # it waits for nothing
    # the new run's page links back to the run it was cloned from
    at.query_params.update({"run": str(new["id"])})
    at.switch_page("screens/run.py").run()
    links = [(link.proto.label, link.proto.query_string) for link in at.get("page_link")]
    assert (f"cloned from #{source}", f"run={source}") in links
    at.switch_page("screens/launch.py")

    # a clone of no run says so and falls back to the kind selector (without the test kinds); run
    # fields are pickers
    at.query_params["clone"] = "not-a-run"
    at.run()
    assert not at.exception and any("no run #not-a-run to clone" in item.value for item in at.warning)
    assert not set(TEST_KINDS) & set(at.selectbox(key="launch.kind").options)
    at.selectbox(key="launch.kind").set_value("evaluate").run()
    picker = at.selectbox(key=f"launch.evaluate.{DEFAULTS}.model_run")
    assert picker.options == [f"#{trained} trained (train)"] and picker.value == trained


def test_a_whole_config_error_shows_its_reason(launch_page):
    """Issue 18, defect 5: `gpus: 64` on the digits preset said "fix the highlighted field(s): (config)"
    with nothing highlighted; the validator's reason is now at the top and under the field it names."""
    from db import store

    at = launch_page({"kind": "train"})
    preset = next(label for label in presets_for("train") if label.startswith("digits quick"))
    at.selectbox(key="launch.train.preset").set_value(preset).run()
    at.number_input(key=f"launch.train.{preset}.gpus").set_value(64)
    queue(at)
    errors = [item.value for item in at.error]
    assert store.list_runs(light=True) == []
    assert not any("(config)" in text for text in errors), errors
    reason = "cannot give each of the 64 processes"
    assert any(text.startswith("The config as a whole is refused") and reason in text for text in errors)
    assert any(text.startswith("batch_size:") and reason in text for text in errors)  # under batch size
    assert any(text.startswith("Nothing was queued") and reason in text for text in errors)
