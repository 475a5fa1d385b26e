"""Every dashboard page, rendered with Streamlit's AppTest on a database seeded by real jobs.

The seed runs small real jobs (count trainings, a failing one, and a tiny 1D study and overhead
benchmark where their engine modules are installed) through the real worker into a temporary
SQLite database named by TASER_DATABASE_URL.
"""

from __future__ import annotations

import re

import pytest

from tests import dashboard_support
from tests.dashboard_support import PAGES, engine_available, seed, temporary_database

pytest.importorskip("streamlit.testing.v1")
from streamlit.testing.v1 import AppTest  # noqa: E402

TIMEOUT_S = 60


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    root = tmp_path_factory.mktemp("dashboard")
    with temporary_database(root) as url:
        yield {"url": url, "runs": seed(url, root / "artifacts")}


def open_page(page: str, query: dict | None = None) -> AppTest:
    return dashboard_support.open_page(page, query, TIMEOUT_S)


def assert_clean(at: AppTest) -> None:
    assert not at.exception, [item.value for item in at.exception]
    assert not at.error, [item.value for item in at.error]


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_without_error(seeded, page):
    at = open_page(page)
    assert_clean(at)
    assert at.title, f"{page} has no title"


def test_home_counts_match_the_database(seeded):
    from db import store

    at = open_page("home")
    shown = {metric.label.split()[-1]: int(metric.value) for metric in at.metric}
    assert shown == {state: store.status_counts().get(state, 0)
                     for state in ("queued", "running", "succeeded", "failed", "cancelled")}
    assert shown["failed"] == 1 and shown["queued"] == 1
    assert any("taser.db" in item.value for item in at.markdown)  # where the data lives


def test_runs_table_shows_status_progress_and_error(seeded):
    at = open_page("runs")
    frame = at.dataframe[0].value
    assert set(frame["id"]) == set(seeded["runs"].values())
    failed = frame[frame["id"] == seeded["runs"]["count-fail"]].iloc[0]
    assert "failed" in failed["status"] and "NaN loss" in failed["message"]
    done = frame[frame["id"] == seeded["runs"]["count-a"]].iloc[0]
    assert done["progress"] == 1.0
    at.multiselect(key="runs.status").set_value(["failed"]).run()
    assert list(at.dataframe[0].value["id"]) == [seeded["runs"]["count-fail"]]


def test_cancel_and_requeue_from_the_runs_page(seeded):
    from db import store

    waiting = seeded["runs"]["waiting"]
    at = open_page("runs")
    at.number_input(key="runs.action_id").set_value(waiting).run()
    at.button(key="runs.cancel").click().run()
    assert_clean(at)
    assert store.get_run(waiting)["status"] == "cancelled"
    at.button(key="runs.requeue").click().run()
    assert store.get_run(waiting)["status"] == "queued"


def test_run_detail_shows_curves_config_and_log(seeded):
    run_id = seeded["runs"]["count-a"]
    at = open_page("run", {"run": str(run_id)})
    assert_clean(at)
    assert at.selectbox(key="run.select").value == run_id
    charts = at.get("plotly_chart")
    assert charts, "no metric curves drawn"
    assert any("--- job" in code.value for code in at.code)  # the log tail
    assert any('"steps"' in item.value for item in at.json)  # the config


def test_launch_rejects_invalid_input_and_queues_valid(seeded):
    from db import store

    before = len(store.list_runs(light=True))
    from app.dashboard.presets import DEFAULTS

    at = open_page("launch", {"kind": "count"})  # a test kind: off the selector, opened by URL
    prefix = f"launch.count.{DEFAULTS}"
    # form widgets commit on submit, as in a browser: set the value, click, then run once
    at.number_input(key=f"{prefix}.steps").set_value(0)
    submit = next(button for button in at.button if button.label == "Queue this run")
    submit.click().run()
    assert len(store.list_runs(light=True)) == before, "an invalid config was queued"
    assert any("steps" in item.value and "Nothing was queued" in item.value for item in at.error)
    assert any("greater than or equal to 1" in item.value for item in at.error)  # next to the field
    at.number_input(key=f"{prefix}.steps").set_value(4)
    at.text_input(key="launch.count.name").set_value("from-the-form")
    next(button for button in at.button if button.label == "Queue this run").click().run()
    assert not at.exception and any("Queued job" in item.value for item in at.success)
    newest = store.list_runs(light=True, limit=1)[0]
    assert newest["name"] == "from-the-form"
    assert store.runs_by_id([newest["id"]])[0]["config"]["steps"] == 4


def test_compare_overlays_curves_and_diffs_configs(seeded):
    at = open_page("compare")
    assert_clean(at)
    a, b = seeded["runs"]["count-a"], seeded["runs"]["count-b"]
    at.multiselect(key="compare.runs").set_value([a, b]).run()
    figure = at.get("plotly_chart")[0].proto.spec
    assert "count-a" in figure and "count-b" in figure
    diff = at.dataframe[-1].value
    assert list(diff["field"]) == ["lr"]


def test_report_page_builds_a_download(seeded):
    at = open_page("report")
    at.multiselect(key="report.runs").set_value([seeded["runs"]["count-a"]]).run()
    at.button(key="report.build").click().run()
    assert_clean(at)
    assert at.get("download_button"), "no download offered"


def test_report_is_self_contained(seeded):
    from app.report import build_report

    text = build_report([seeded["runs"]["count-a"], seeded["runs"]["count-b"]])
    assert "<script src=" not in text  # nothing fetched when opened
    assert "Plotly.newPlot" in text and text.count("Run #") >= 2
    with_alignment = build_report([seeded["runs"]["alignment"]])
    assert with_alignment.count("Plotly.newPlot") >= 2  # histograms and example maps
    with pytest.raises(ValueError, match="no run"):
        build_report([10_000])


@pytest.mark.skipif(not engine_available("taser_engine.experiments.toy1d"), reason="1D study engine not installed")
def test_extrapolation_page_shows_the_study(seeded):
    at = open_page("extrapolation")
    assert_clean(at)
    assert len(at.get("plotly_chart")) >= 2 and at.dataframe


@pytest.mark.skipif(not engine_available("taser_engine.overhead"), reason="overhead engine not installed")
def test_overhead_page_shows_the_benchmark(seeded):
    at = open_page("overhead")
    assert_clean(at)
    assert at.get("plotly_chart") and "small_cnn" in set(at.dataframe[-1].value["model"])
    # the whole-step section, from the measurement committed in benchmarks/results/
    assert any("Whole training step" in h.value for h in at.header)
    whole_step = at.dataframe[0].value
    assert {"standard", "pgd"} <= set(whole_step["method"]) and "paper ratio" in whole_step.columns


def test_pages_without_their_engine_say_so(seeded):
    for page, module in (("extrapolation", "taser_engine.experiments.toy1d"), ("overhead", "taser_engine.overhead")):
        if engine_available(module):
            continue
        at = open_page(page)
        assert_clean(at)
        assert at.info, f"{page}: no explanation shown"


def test_score_field_page_trains_the_2d_pair(seeded):
    at = open_page("alignment")
    at.select_slider(key="field.steps").set_value(100).run()
    at.button(key="field.train").click().run(timeout=120)
    assert_clean(at)
    assert {"field.fig", "field.hist"} <= {chart.key for chart in at.get("plotly_chart")}
    table = at.dataframe[0].value
    assert list(table["model"])[0] == "without TASER"


def test_report_command_writes_the_file(seeded, tmp_path, capsys):
    from app.cli import main

    out = tmp_path / "report.html"
    a, b = seeded["runs"]["count-a"], seeded["runs"]["count-b"]
    assert main(["report", "--runs", f"{a}-{b}", "--out", str(out)]) == 0
    text = out.read_text()
    assert f"Run #{a}" in text and f"Run #{b}" in text
    assert main(["report", "--runs", "99999", "--out", str(out)]) == 2
    assert "no run(s) with id 99999" in capsys.readouterr().err


def test_demo_queues_every_installed_kind_and_notes_the_rest(seeded):
    from app.demo import demo_plan, queue_demo
    from app.jobs import get_kind, kind_names
    from db import store

    def installed(kind: str) -> bool:
        if kind not in kind_names():
            return False
        try:
            get_kind(kind)
        except ImportError:
            return False
        return True

    quick = [step for step in demo_plan() if step.in_quick]
    expected, skipped = [], set()
    for step in quick:
        refs_ok = not step.required_refs or all(key in expected for key in step.refs.values())
        if installed(step.kind) and refs_ok:
            expected.append(step.key)
        else:
            skipped.add(step.key)
    before = {run["id"] for run in store.list_runs(light=True)}
    queued, notes = queue_demo(quick=True)
    assert [item["key"] for item in queued] == expected
    assert {note.split()[1].rstrip(":") for note in notes} == skipped
    new = {run["id"]: run for run in store.list_runs(light=True) if run["id"] not in before}
    assert sorted(new) == sorted(item["run_id"] for item in queued)
    assert all("demo" in run["tags"] for run in new.values())
    for item in queued:  # leave the shared database as the other tests expect it
        from db import store

        store.request_cancel(item["job_id"])


def test_demo_plan_covers_every_method_with_and_without_taser():
    from app.demo import BASE_METHODS, demo_plan

    plan = demo_plan()
    keys = {step.key for step in plan}
    trains = [step for step in plan if step.kind == "train"]
    assert {(step.quick["method"], step.quick["taser"]) for step in trains} == {
        (method, taser) for method in BASE_METHODS for taser in (False, True)}
    evaluations = [step for step in plan if step.kind == "evaluate"]
    assert len(evaluations) == len(trains)
    assert {step.refs["model_run"] for step in evaluations} == {step.key for step in trains}
    assert all(step.refs.get("score_model_run") == "score-model" for step in trains if step.quick["taser"])
    assert all(ref in keys for step in plan for ref in step.refs.values())
    assert {"toy1d", "bench-overhead", "score-model"} <= {step.kind for step in plan}


def test_alignment_job_results_on_the_score_field_page(seeded):
    from db import store

    run = store.get_run(seeded["runs"]["alignment"])
    assert run["status"] == "succeeded", run["error"]
    block = run["summary"]["alignment"]
    assert len(block["cosine"]) == 64 and all(-1.0001 <= c <= 1.0001 for c in block["cosine"])
    assert len(block["examples"]) == 2 and len(block["examples"][0]["grad"]) == 8  # 8×8 digit maps
    at = open_page("alignment")
    assert_clean(at)
    offered = at.selectbox(key="field.model_run").options  # newest first; the study's trainings are newer
    assert any(option.startswith(f"#{seeded['runs']['model']} ") for option in offered)
    assert {chart.key for chart in at.get("plotly_chart")} == {"field.img_hist", "field.maps"}


def test_demo_wait_reports_final_states_and_times_out(seeded):
    from app.cli import UserError
    from app.commands.demo import wait_for
    from db import store

    job_of = {name: store.get_run(run_id)["job_id"] for name, run_id in seeded["runs"].items()}
    states = wait_for([job_of["count-a"], job_of["count-fail"]], timeout_s=5, poll_s=0.05)
    assert states == {job_of["count-a"]: "succeeded", job_of["count-fail"]: "failed"}
    if store.get_run(seeded["runs"]["waiting"])["status"] == "queued":  # nobody runs it here
        with pytest.raises(UserError, match="not finished"):
            wait_for([job_of["waiting"]], timeout_s=0.2, poll_s=0.05)


def test_run_page_refuses_an_artifact_row_pointing_outside_the_root(seeded):
    from db import store

    run_id = seeded["runs"]["count-a"]
    store.add_artifact(run_id, "log", "../../../etc/passwd", "0" * 64, 10)
    at = open_page("run", {"run": str(run_id)})
    assert not at.exception
    assert any("outside the artifact root" in w.value for w in at.warning)
    assert not any("passwd" in b.label for b in at.get("download_button"))


def test_tags_and_notes_are_edited_on_the_run_page(seeded):
    from db.store import get_run

    run_id = seeded["runs"]["count-a"]
    at = open_page("run", {"run": str(run_id)})
    at.text_input(key=f"run.tags.{run_id}").input("baseline, demo ,, baseline")
    at.text_area(key=f"run.notes.{run_id}").input("compare with #2")
    at.button(key=f"run.notes_save.{run_id}").click().run()
    assert not at.exception
    stored = get_run(run_id)
    assert stored["tags"] == ["baseline", "demo"] and stored["notes"] == "compare with #2"


def test_run_page_says_what_a_queued_job_waits_for(seeded):
    from db import store

    waiting = seeded["runs"]["waiting"]
    job_id = store.submit_job("count", {"steps": 1}, name="blocked", depends_on=[waiting])
    try:
        at = open_page("run", {"run": str(store.get_job(job_id).run_id)})
        assert_clean(at)
        assert any(f"Waiting for run #{waiting} (queued)" in item.value for item in at.info)
    finally:  # leave the shared database as the other tests expect it
        store.request_cancel(job_id)


def test_study_pages_show_the_grid_tables_and_the_launch_form(seeded):
    from db import store

    (study,) = store.list_studies()
    study_id = study.id
    at = open_page("studies")
    assert_clean(at)
    assert "tiny study" in str(at.dataframe[0].value)
    at = open_page("studies", {"study": str(study_id)})
    assert_clean(at)
    assert at.title[0].value == f"Study {study_id}: tiny study"
    assert [m.value for m in at.metric][:1] == ["succeeded"]
    table = "\n".join(m.value for m in at.markdown)
    assert "| Vanilla |" in table and "paired bootstrap" in table  # one seed: the point bootstrap
    launch = open_page("launch", {"form": "study"})
    assert_clean(launch)
    assert any("jobs" in i.value and "train" in i.value for i in launch.info)  # count and estimate before queueing


def test_an_archived_study_evaluation_leaves_its_tables_not_its_grid(seeded):
    from app.studies.service import study_state
    from app.studies.tables import point_tables
    from db import store

    (study,) = store.list_studies()
    state = study_state(study.id)
    with_taser = next(c for c in state.cells if c.role == "evaluate" and c.cell["taser"])
    (before,) = point_tables(state)
    assert before.table.rows[0]["robust_avg_with"] is not None
    store.archive_run(with_taser.run_id)
    try:
        state = study_state(study.id)
        assert next(c for c in state.cells if c.key == with_taser.key).archived  # still a cell of the grid
        (after,) = point_tables(state)
        # the TASER side is gone from the table (or the table waits for it)
        assert after.table is None or after.table.rows[0]["robust_avg_with"] is None
    finally:
        store.restore_run(with_taser.run_id)
    (restored,) = point_tables(study_state(study.id))
    assert restored.table.rows == before.table.rows


def test_paper_check_judges_the_claims_on_a_study(seeded):
    at = open_page("paper_check")
    assert_clean(at)
    claims = at.dataframe[0].value
    first = claims.iloc[0]
    assert first["claim"].startswith("TASER improves robust accuracy")
    assert re.match(r"yes for [01]/1 methods, CI excludes 0 for [01]", first["ours"])  # the study's one method


def test_the_evaluate_form_can_be_queued_as_it_loads(seeded):
    """Issue 18, defect 1: iteration_check showed "(10, 100)" and was refused as not a tuple."""
    from db import store

    at = open_page("launch")
    at.selectbox(key="launch.kind").set_value("evaluate").run()
    check = next(w for w in at.text_input if w.key and w.key.endswith(".iteration_check"))
    assert check.value == "10, 100"
    next(button for button in at.button if button.label == "Queue this run").click().run()
    assert_clean(at)
    assert any("Queued job" in item.value for item in at.success)
    newest = store.list_runs(light=True, limit=1)[0]
    assert store.runs_by_id([newest["id"]])[0]["config"]["iteration_check"] == [10, 100]


@pytest.mark.skipif(not engine_available("taser_engine.overhead"), reason="overhead engine not installed")
def test_figure_html_exports_are_built_on_click_not_on_load(seeded, monkeypatch):
    from plotly.basedatatypes import BaseFigure

    built = []
    monkeypatch.setattr(BaseFigure, "to_html", lambda self, *args, **kwargs: built.append(self) or "")
    at = open_page("overhead")
    assert_clean(at)
    assert [b.label for b in at.get("download_button")].count("Figure (HTML)") == 2
    assert built == []
