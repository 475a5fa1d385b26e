"""The runs table and the run lifecycle in the dashboard (issue 18: result columns, archive and
restore, selection for Compare, defect 6's stale action area, the run page's evaluation links).

Pages run in Streamlit's AppTest on a database seeded without training: finished runs recorded
with their summaries and evaluation rows, one job claimed by a stand-in worker, one queued."""

from __future__ import annotations

import pandas as pd
import pytest

from app.dashboard.views import runs as runs_view
from db.entities import EvaluationRecord, HeadlineRecord
from tests.dashboard_support import open_clean_page as open_page
from tests.dashboard_support import temporary_database

pytest.importorskip("streamlit.testing.v1")
from streamlit.testing.v1 import AppTest  # noqa: E402

WORKER = "stand-in worker"


def attack_rows(clean: float, autoattack: float, spsa: float) -> list[dict]:
    return [{"attack": attack, "norm": "Linf", "eps": 8 / 255, "n": 100, "clean_accuracy": clean,
             "robust_accuracy": robust} for attack, robust in (("autoattack", autoattack), ("spsa", spsa))]


def evaluation_summary(clean: float, autoattack: float, spsa: float, taser: bool) -> dict:
    return {"n": 100, "clean_acc": clean, "robust": {"autoattack": autoattack, "spsa": spsa},
            "robust_avg": (autoattack + spsa) / 2, "run": {"method": "standard", "taser": taser, "dataset": "digits"}}


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    from app.jobs import normalized_config
    from db import store

    with temporary_database(tmp_path_factory.mktemp("runs_table")):
        runs = {"plain": store.record_finished_run("train", {"method": "standard"}, {
            "clean_acc": 0.8, "ms_per_sample": 1.0, "ms_per_sample_without_penalty": 1.0}, name="plain")}
        runs["taser"] = store.record_finished_run("train", {"method": "standard", "taser": {"enabled": True}}, {
            "clean_acc": 0.85, "ms_per_sample": 3.0, "ms_per_sample_without_penalty": 2.0,
            "penalty_ms_per_sample": 1.0}, name="with taser")
        for name, model, numbers, taser in (("eval plain", "plain", (0.9, 0.2, 0.3), False),
                                            ("eval taser", "taser", (0.9, 0.5, 0.6), True)):
            runs[name] = store.record_finished_run("evaluate", {"model_run": runs[model]},
                                                   evaluation_summary(*numbers, taser), name=name,
                                                   evaluations=attack_rows(*numbers))
        store.submit_job("count", normalized_config("count", {"steps": 50}), name="busy")
        runs["busy"] = store.claim_next_job(WORKER, lease_s=600).run_id
        waiting = store.submit_job("count", normalized_config("count", {"steps": 3}), name="waiting")
        runs["waiting"] = store.get_job(waiting).run_id
        yield runs



def row_of(frame, run_id: int):
    return frame[frame["id"] == run_id].iloc[0]


# ----------------------------------------------------------------------------------------------
# pure parts


def headline(**fields) -> HeadlineRecord:
    rows = [EvaluationRecord(id=index, run_id=7, attack=attack, norm="Linf", eps=0.03, n=10, clean_accuracy=0.9,
                             robust_accuracy=robust, per_sample=None, extra=None, created_at=None)
            for index, (attack, robust) in enumerate(fields.pop("attacks", {}).items())]
    return HeadlineRecord(**{"run_id": 3, "evaluation_run_id": 7 if rows else None, "evaluations": rows,
                             "train_clean_acc": None, "ms_per_sample": None, "ms_per_sample_without_penalty": None,
                             "penalty_ms_per_sample": None, **fields})


def test_result_columns_come_from_the_evaluation_and_the_training_times():
    columns = runs_view.result_columns(headline(attacks={"autoattack": 0.4, "spsa": 0.6}, train_clean_acc=0.5,
                                                ms_per_sample=3.0, ms_per_sample_without_penalty=2.0,
                                                penalty_ms_per_sample=1.0))
    assert columns == {"clean": 0.9, "AA": 0.4, "SPSA": 0.6, "robust avg.": pytest.approx(0.5), "overhead": 1.5}
    unevaluated = runs_view.result_columns(headline(train_clean_acc=0.5, ms_per_sample=2.0,
                                                    ms_per_sample_without_penalty=2.0))
    assert unevaluated == {"clean": 0.5, "AA": None, "SPSA": None, "robust avg.": None, "overhead": None}
    only_aa = runs_view.result_columns(headline(attacks={"autoattack": 0.4}))
    assert only_aa["AA"] == 0.4 and only_aa["robust avg."] is None  # the paper's average needs both
    assert set(runs_view.result_columns(None).values()) == {None}


def test_filter_rows_keeps_rows_reaching_every_minimum():
    rows = [{"id": 1, "clean": 0.9, "robust avg.": 0.5}, {"id": 2, "clean": 0.6, "robust avg.": None},
            {"id": 3, "clean": 0.95, "robust avg.": 0.2}]
    assert [row["id"] for row in runs_view.filter_rows(rows, {"clean": 0.8, "robust avg.": None})] == [1, 3]
    assert [row["id"] for row in runs_view.filter_rows(rows, {"robust avg.": 0.3})] == [1]
    assert [row["id"] for row in runs_view.filter_rows(rows, {"robust avg.": 0.2 + 1e-12})] == [1, 3]
    assert runs_view.filter_rows(rows, {}) == rows


def test_selection_positions_map_to_the_ids_drawn_and_make_the_compare_url():
    assert runs_view.selected_ids([2, 0, 9], [30, 20, 10]) == [30, 10]
    assert runs_view.compare_query([3, 7, 9]) == {"runs": "3,7,9"}


def test_the_action_area_refreshes_only_while_its_job_may_change():
    assert runs_view.action_refresh_s("running") == runs_view.action_refresh_s("queued") == runs_view.REFRESH_S
    assert {runs_view.action_refresh_s(state) for state in ("succeeded", "failed", "cancelled", None)} == {None}


def test_status_icons_are_material_icons_not_emoji():
    from app.dashboard.common import STATUS_ICONS

    assert set(STATUS_ICONS) == set(runs_view.STATES)
    assert all(icon.startswith(":material/") and icon.isascii() for icon in STATUS_ICONS.values())


# ----------------------------------------------------------------------------------------------
# pages


def test_the_runs_table_shows_result_columns_that_filter(seeded):
    at = open_page("runs")
    frame = at.dataframe[0].value
    assert "archived" not in frame.columns
    taser = row_of(frame, seeded["taser"])
    assert (taser["clean"], taser["AA"], taser["SPSA"]) == (0.9, 0.5, 0.6)  # from its evaluation
    assert taser["robust avg."] == pytest.approx(0.55) and taser["overhead"] == 1.5
    assert row_of(frame, seeded["eval plain"])["AA"] == 0.2
    assert pd.isna(row_of(frame, seeded["plain"])["overhead"])  # trained without the penalty
    assert row_of(frame, seeded["busy"])["status"] == "running"  # a word, no emoji box
    assert row_of(frame, seeded["plain"])["clone"] == f"launch?clone={seeded['plain']}"
    at.number_input(key="runs.min.robust avg.").set_value(50.0).run()
    assert set(at.dataframe[0].value["id"]) == {seeded["taser"], seeded["eval taser"]}


def test_archive_hides_a_run_from_the_table_and_robustness_until_restored(seeded):
    from db import store

    junk = seeded["eval plain"]
    at = open_page("runs")
    at.number_input(key="runs.action_id").set_value(junk).run()
    at.button(key="runs.archive").click().run()
    try:
        assert store.get_run(junk)["archived_at"] is not None
        assert junk not in set(at.dataframe[0].value["id"])
        at.toggle(key="runs.show_archived").set_value(True).run()
        assert bool(row_of(at.dataframe[0].value, junk)["archived"])
        robustness = open_page("robustness")
        assert "eval plain" not in " ".join(robustness.multiselect(key="robust.runs").options)
        table = next(frame.value for frame in robustness.dataframe if "run" in frame.value.columns)
        assert not table["run"].str.contains("eval plain").any()
        assert junk not in set(robustness.dataframe[0].value["run_id"])  # the stored per-attack rows
        # the run page of an archived run still opens, says so and offers Restore
        page = open_page("run", {"run": str(junk)})
        assert page.selectbox(key="run.select").value == junk
        assert any("badge[:material/archive: archived]" in item.value for item in page.markdown)
        page.button(key="run.restore").click().run()
        assert store.get_run(junk)["archived_at"] is None
    finally:
        store.restore_run(junk)
    robustness = open_page("robustness")
    assert "eval plain" in " ".join(robustness.multiselect(key="robust.runs").options)


def test_after_cancel_the_action_area_follows_the_job_until_requeue_is_possible(seeded):
    """Defect 6: the area showed "running" with Re-queue disabled until the run was chosen
    again. Now it says the cancel is pending and refreshes itself while the job is active."""
    from db import store

    busy = seeded["busy"]
    job_id = store.get_run(busy)["job_id"]
    at = open_page("runs")
    at.number_input(key="runs.action_id").set_value(busy).run()
    at.button(key="runs.cancel").click().run()
    caption = " ".join(item.value for item in at.caption)
    assert "cancel requested" in caption and f"refreshing every {runs_view.REFRESH_S:g} s" in caption
    assert at.button(key="runs.cancel").disabled and at.button(key="runs.requeue").disabled
    assert store.cancel(job_id, WORKER)  # the worker stops the job at its next step
    at.run()  # what the area's own refresh does
    assert not at.button(key="runs.requeue").disabled
    at.button(key="runs.requeue").click().run()
    assert store.get_run(busy)["status"] == "queued"


def page_links(at: AppTest) -> list:
    return list(at.get("page_link"))


def test_an_evaluation_shows_its_numbers_up_front_and_no_empty_charts(seeded):
    at = open_page("run", {"run": str(seeded["eval taser"])})
    results = at.dataframe[0].value.iloc[0]
    assert (results["clean"], results["autoattack"], results["spsa"]) == ("90.0%", "50.0%", "60.0%")
    shown = " ".join(item.value for item in [*at.caption, *at.markdown])
    assert "No evaluations stored" not in shown and "No metrics recorded" not in shown
    assert not at.get("plotly_chart")


def test_a_training_links_to_its_evaluations_and_to_its_clone(seeded):
    at = open_page("run", {"run": str(seeded["taser"])})
    links = [(link.proto.label, link.proto.page, link.proto.query_string) for link in page_links(at)]
    evaluations = [(page, query) for label, page, query in links if "eval" in label]
    assert evaluations == [("run", f"run={seeded['eval taser']}")]  # not the other training's
    assert ("Clone with edits", "launch", f"clone={seeded['taser']}") in links


def test_an_archived_run_can_be_deleted_from_the_runs_page(seeded, tmp_path):
    from app.paths import run_dir_for
    from db import store

    doomed = store.record_finished_run("train", {"method": "standard"}, {"clean_acc": 0.1}, name="junk")
    folder = run_dir_for(doomed)
    folder.mkdir(parents=True)
    (folder / "model.pt").write_bytes(b"x")
    at = open_page("runs")
    at.number_input(key="runs.action_id").set_value(doomed).run()
    assert all(button.key != "runs.delete" for button in at.button)  # not archived: no delete
    at.button(key="runs.archive").click().run()
    at.button(key="runs.delete").click().run()
    assert store.get_run(doomed) is None and not folder.exists()
    assert not at.exception


def test_a_link_to_another_run_from_the_run_page_opens_that_run(seeded):
    at = open_page("run", {"run": str(seeded["taser"])})
    at.query_params["run"] = str(seeded["eval taser"])  # what following "Evaluations of this run" does
    at.run()
    assert at.selectbox(key="run.select").value == seeded["eval taser"]
    at.selectbox(key="run.select").set_value(seeded["plain"]).run()  # the picker still wins when used
    assert at.selectbox(key="run.select").value == seeded["plain"]
    assert at.query_params["run"] == str(seeded["plain"])
