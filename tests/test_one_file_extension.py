"""Issue 16's one-file claim: a new attack, objective, dataset and job kind are each one module with
one registration line (tests/toy_plugins/), and nothing else is edited; loaded as a user's
extension would be (TASER_PLUGINS), they then appear in the CLI's choices, the Launch form's
selects and help, and the toy kind's result in its viewer on the Run page and in `taser report`,
after running through the real worker, whose job process is spawned and so sees only what
TASER_PLUGINS loads.

tests/test_registries.py checks each registry's own behaviour (lookups, errors, params); this file
checks that the product's surfaces pick the new names up with no second edit.
"""

from __future__ import annotations

import sys

import pytest

from app.cli import main

pytest.importorskip("streamlit.testing.v1")
from tests.test_dashboard_pages import assert_clean, open_page  # noqa: E402

PLUGINS = {
    "dataset": "tests.toy_plugins.toy_dataset",
    "objective": "tests.toy_plugins.toy_objective",
    "attack": "tests.toy_plugins.toy_attack",
    "kind": "tests.toy_plugins.toy_kind",
}
KIND = "toy-triangle"


@pytest.fixture
def plugins(queue_db, monkeypatch):
    """The toy modules loaded through TASER_PLUGINS (as `taser`, the dashboard and job processes
    load them) on a fresh queue database; their registrations are removed afterwards."""
    from app.jobs import JOB_KINDS
    from app.plugins import load_plugins
    from app.viewers import RESULT_VIEWERS
    from taser_engine.datasets import DATASETS
    from taser_engine.evaluation import ATTACKS
    from taser_engine.objectives import OBJECTIVES

    monkeypatch.setenv("COLUMNS", "2000")  # wide help: argparse would wrap a choice at its hyphen
    monkeypatch.setenv("TASER_PLUGINS", ",".join(PLUGINS.values()))
    assert load_plugins() == list(PLUGINS.values())
    yield queue_db
    DATASETS.unregister("toy_bars")
    OBJECTIVES.unregister("toy_scaled")
    ATTACKS.unregister("toy_noise")
    JOB_KINDS.pop(KIND, None)
    RESULT_VIEWERS.pop(KIND, None)
    for module in PLUGINS.values():  # so that the next test's load_plugins registers them again
        sys.modules.pop(module, None)


def help_of(argv: list[str], capsys) -> str:
    assert main([*argv, "--help"]) == 0
    return capsys.readouterr().out


def run_worker() -> None:
    from app.worker import Worker, WorkerOptions

    Worker(WorkerOptions(once=True, poll_interval_s=0.05)).run()


# ---------------------------------------------------------------- the CLI

def test_the_cli_offers_and_accepts_the_toy_names(plugins, capsys):
    from db import store

    train_help = help_of(["train"], capsys)
    assert "toy_bars" in train_help and "toy_scaled" in train_help  # --dataset, --method choices
    assert "toy_noise" in help_of(["evaluate"], capsys)  # --attacks "from: ..."
    assert KIND in help_of(["submit"], capsys)
    assert "--n N" in help_of(["submit", KIND], capsys)  # the kind's Config fields are its flags
    assert "toy_bars" in help_of(["submit", "train"], capsys)

    assert main(["submit", "train", "--dataset", "toy_bars", "--method", "toy_scaled", "--epochs", "1"]) == 0
    train_job = int(capsys.readouterr().out.strip())
    train_run = store.get_job(train_job).run_id
    assert main(["submit", "evaluate", "--model-run", str(train_run), "--attacks", "toy_noise",
                 "--attack-params", '{"toy_noise": {"scale": 0.5}}']) == 0
    evaluate_job = int(capsys.readouterr().out.strip())
    assert main(["submit", KIND, "--n", "5"]) == 0
    kind_job = int(capsys.readouterr().out.strip())
    configs = {job: store.runs_by_id([store.get_job(job).run_id])[0]["config"]
               for job in (train_job, evaluate_job, kind_job)}
    assert (configs[train_job]["dataset"], configs[train_job]["method"]) == ("toy_bars", "toy_scaled")
    assert configs[evaluate_job]["attacks"] == ["toy_noise"]
    assert configs[evaluate_job]["attack_params"] == {"toy_noise": {"scale": 0.5}}
    assert configs[kind_job] == {"n": 5}

    assert main(["submit", KIND, "--n", "0"]) == 2  # the toy Config's bounds hold on the command line
    assert "greater than or equal to 1" in capsys.readouterr().err


def test_names_registered_after_the_commands_were_imported_are_choices(plugins, capsys):
    """Command modules make their ConfigFlags when imported; a parser built later still lists
    (and accepts) a name registered in between."""
    from taser_engine.datasets import DATASETS

    help_of(["train"], capsys)  # the commands are imported, their flags made
    DATASETS.register("toy_late", DATASETS.get("toy_bars"))
    try:
        assert "toy_late" in help_of(["train"], capsys)
    finally:
        DATASETS.unregister("toy_late")


def test_a_plug_in_that_does_not_import_is_one_line(monkeypatch, capsys):
    monkeypatch.setenv("TASER_PLUGINS", "tests.toy_plugins.no_such_module")
    assert main(["submit", "--help"]) == 2
    err = capsys.readouterr().err
    assert "TASER_PLUGINS" in err and "tests.toy_plugins.no_such_module" in err and "Traceback" not in err


# ---------------------------------------------------------------- the Launch form

def test_the_launch_form_offers_the_toy_names_and_queues_them(plugins):
    from app.dashboard.presets import DEFAULTS
    from app.submission import submit
    from db import store

    at = open_page("launch")
    assert_clean(at)
    assert KIND in at.selectbox(key="launch.kind").options
    at.selectbox(key="launch.kind").set_value("train").run()
    prefix = f"launch.train.{DEFAULTS}"
    assert "toy_bars" in at.selectbox(key=f"{prefix}.dataset").options
    assert "toy_scaled" in at.selectbox(key=f"{prefix}.method").options
    at.selectbox(key="launch.kind").set_value("evaluate").run()
    assert_clean(at)
    assert "toy_noise" in at.multiselect(key=f"launch.evaluate.{DEFAULTS}.attacks").options
    model_run = submit("train", {"dataset": "toy_bars", "epochs": 1}, {}).run_id
    at.run()  # the model-run picker lists it now
    at.selectbox(key=f"launch.evaluate.{DEFAULTS}.model_run").set_value(model_run)  # queued: it waits for it
    at.multiselect(key=f"launch.evaluate.{DEFAULTS}.attacks").set_value(["toy_noise"])
    at.text_input(key=f"launch.evaluate.{DEFAULTS}.attack_params").set_value('{"toy_noise": {"scale": 0.5}}')
    next(button for button in at.button if button.label == "Queue this run").click().run()
    assert_clean(at)
    newest = store.runs_by_id([store.list_runs(light=True, limit=1)[0]["id"]])[0]
    assert (newest["kind"], newest["config"]["attacks"]) == ("evaluate", ["toy_noise"])
    assert newest["config"]["attack_params"] == {"toy_noise": {"scale": 0.5}}

    at.selectbox(key="launch.kind").set_value(KIND).run()
    assert_clean(at)
    at.number_input(key=f"launch.{KIND}.{DEFAULTS}.n").set_value(6)
    next(button for button in at.button if button.label == "Queue this run").click().run()
    assert_clean(at)
    assert any("Queued job" in item.value for item in at.success)
    newest = store.list_runs(light=True, limit=1)[0]
    assert newest["kind"] == KIND and store.runs_by_id([newest["id"]])[0]["config"] == {"n": 6}


# ---------------------------------------------------------------- the result view

def test_the_toy_kind_runs_in_the_worker_and_its_viewer_shows_the_result(plugins, tmp_path, capsys):
    from app.jobs import parse_result
    from app.submission import submit
    from app.viewers import TableBlock, TextBlock, result_blocks
    from db import store

    run_id = submit(KIND, {"n": 4}, {"name": "toy"}).run_id
    run_worker()
    run = store.runs_by_id([run_id])[0]
    assert run["status"] == "succeeded", run.get("error")
    assert run["summary"] == {"n": 4, "total": 10}
    blocks = result_blocks(KIND, parse_result(KIND, run["summary"]))
    assert [type(block) for block in blocks] == [TextBlock, TableBlock]
    assert blocks[0].text == "toy triangle: 1..4 adds up to 10"

    at = open_page("run", {"run": str(run_id)})
    assert_clean(at)
    assert any("adds up to 10" in item.value for item in at.markdown)
    assert any(list(table.value["total"]) == [10] for table in at.dataframe)

    out = tmp_path / "report.html"
    assert main(["report", "--runs", str(run_id), "--out", str(out)]) == 0
    text = out.read_text()
    assert "toy triangle: 1..4 adds up to 10" in text and "Toy triangle" in text


def test_a_kind_registered_only_in_the_worker_is_unknown_to_its_job_process(plugins, monkeypatch):
    """Why TASER_PLUGINS exists: the job process is spawned, so it inherits no registration."""
    from app.submission import submit
    from db import store

    run_id = submit(KIND, {"n": 2}, {}).run_id
    monkeypatch.setenv("TASER_PLUGINS", "")
    run_worker()
    run = store.runs_by_id([run_id])[0]
    assert run["status"] == "failed" and f"unknown job kind '{KIND}'" in run["error"]


def test_the_toy_dataset_objective_and_attack_train_and_evaluate_in_the_worker(plugins):
    from app.submission import submit
    from db import store

    train_run = submit("train", {"dataset": "toy_bars", "method": "toy_scaled", "method_params": {"scale": 2.0},
                                 "epochs": 1, "batch_size": 16}, {}).run_id
    run_worker()
    # submitted after the training finished: its dataset is then taken from the model's run
    evaluate_run = submit("evaluate", {"model_run": train_run, "attacks": ["toy_noise"], "n_eval": 16,
                                       "iteration_check": None}, {}).run_id
    run_worker()
    train, evaluation = store.runs_by_id([train_run, evaluate_run])
    assert train["status"] == "succeeded", train.get("error")
    assert evaluation["status"] == "succeeded", evaluation.get("error")
    assert list(evaluation["summary"]["robust"]) == ["toy_noise"]
    assert evaluation["summary"]["run"]["dataset"] == "toy_bars"
    assert evaluation["summary"]["run"]["method"] == "toy_scaled"


def test_a_plug_in_that_does_not_import_is_named_by_the_dashboard_and_the_job(queue_db, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from app.submission import submit
    from db import store
    from tests.dashboard_support import MAIN

    run_id = submit("noop", {}, {}).run_id
    monkeypatch.setenv("TASER_PLUGINS", "tests.toy_plugins.no_such_module")
    at = AppTest.from_file(str(MAIN), default_timeout=60).run()
    assert not at.exception
    assert any("tests.toy_plugins.no_such_module" in item.value for item in at.error)
    run_worker()
    run = store.runs_by_id([run_id])[0]
    assert run["status"] == "failed" and "TASER_PLUGINS: cannot import" in run["error"]
