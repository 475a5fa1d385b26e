"""Typed results: every job kind declares a Result, stored summaries parse into it, the runner
refuses a result that does not fit, evaluate jobs store evaluation rows the Robustness reads,
and `taser report` renders results without loading Streamlit."""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.jobs import JOB_KINDS, JobResult, get_kind, parse_result, validate_result

REPO_ROOT = Path(__file__).resolve().parent.parent
# One summary of each kind as the worker stored it from a small real job (lists cut to 6 items).
SAMPLES = json.loads((Path(__file__).parent / "data" / "result_samples.json").read_text())


@pytest.mark.parametrize("kind", sorted(JOB_KINDS))
def test_every_kind_declares_a_result_class(kind):
    assert issubclass(get_kind(kind).result_class, JobResult)


@pytest.mark.parametrize("kind", sorted(JOB_KINDS))
def test_a_real_stored_summary_of_each_kind_parses(kind):
    stored = SAMPLES[kind]
    result = parse_result(kind, stored)
    assert isinstance(result, get_kind(kind).result_class)
    assert result.stored() == stored  # what was stored reads back unchanged, extra fields included
    assert validate_result(kind, stored).stored() == stored


def test_declared_fields_are_typed_and_old_summaries_still_parse():
    evaluation = parse_result("evaluate", SAMPLES["evaluate"])
    assert 0.0 <= evaluation.clean_acc <= 1.0 and set(evaluation.robust) == {"apgd_ce", "spsa"}
    assert evaluation.run_eval("#1").method == "standard"
    assert parse_result("train", SAMPLES["train"]).taser is True
    assert parse_result("alignment", SAMPLES["alignment"]).alignment.cosine
    old = parse_result("evaluate", {"clean_acc": 0.5, "field_from_an_old_version": 1})
    assert old.clean_acc == 0.5 and old.stored()["field_from_an_old_version"] == 1
    # a summary that fits no Result (an import run, a hand-edited row) is still readable
    assert parse_result("import", {"imported": "m.pt"}).stored() == {"imported": "m.pt"}
    assert parse_result("evaluate", {"clean_acc": "high"}).stored() == {"clean_acc": "high"}


def test_results_are_json_ready_before_validation():
    result = validate_result("count", {"step": 2, "x": float("nan"), "running_sum": 1.5})
    assert result.stored() == {"step": 2, "x": None, "running_sum": 1.5}
    assert validate_result("noop", None) is None


BAD_KIND = '''
from pydantic import BaseModel
from app.jobs._result import JobResult

class Config(BaseModel):
    pass

class Result(JobResult):
    accuracy: float

def run(config, ctx):
    return {"accuracy": "very good"}
'''


def test_the_runner_rejects_an_invalid_result_with_a_readable_reason(tmp_path, monkeypatch):
    from app.jobs.runner import JobSpec, child_main

    (tmp_path / "bad_result_kind.py").write_text(BAD_KIND)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(JOB_KINDS, "bad-result", "bad_result_kind")
    spec = JobSpec(job_id=1, run_id=1, kind="bad-result", config={}, run_dir=str(tmp_path),
                   resume_checkpoint=None, log_path=str(tmp_path / "job.log"), attempt=1, worker_pid=os.getpid())
    context = multiprocessing.get_context("fork")  # the child sees this test's registry entry
    parent, child = context.Pipe()
    process = context.Process(target=child_main, args=(spec, child))
    process.start()
    child.close()
    messages = []
    while True:
        try:
            messages.append(parent.recv())
        except EOFError:
            break
    process.join(30)
    assert messages[-1] == ("failed", "invalid bad-result result: field 'accuracy': Input should be a valid "
                                      "number, unable to parse string as a number")


def test_the_evaluate_job_stores_rows_that_the_robustness_reads(queue_db):
    from app.jobs import normalized_config
    from app.results import accuracies_from_rows, robustness_rows
    from app.worker import Worker, WorkerOptions
    from db import store
    from db import store

    train = store.submit_job("train", normalized_config("train", {
        "dataset": "digits", "method": "standard", "epochs": 1, "batch_size": 128, "max_train_samples": 128}))
    Worker(WorkerOptions(once=True, poll_interval_s=0.05, lease_s=60)).run()
    model_run = store.get_job(train).run_id
    evaluate = store.submit_job("evaluate", normalized_config("evaluate", {
        "model_run": model_run, "n_eval": 10, "attacks": ["apgd_ce", "spsa"], "spsa_nb_iter": 1,
        "spsa_nb_sample": 2, "apgd_n_iter": 2, "iteration_check": None}), parent_run_id=model_run)
    Worker(WorkerOptions(once=True, poll_interval_s=0.05, lease_s=60)).run()
    job = store.get_job(evaluate)
    assert job.status == "succeeded", job.error
    result = parse_result("evaluate", store.get_run(job.run_id)["summary"])

    rows = store.list_evaluations([job.run_id])
    assert [row["attack"] for row in rows] == ["apgd_ce", "spsa"]
    for row in rows:
        assert row["n"] == 10 and row["clean_accuracy"] == result.clean_acc
        assert row["robust_accuracy"] == result.robust[row["attack"]]
        assert row["norm"] == "Linf" and row["eps"] > 0
        assert row["per_sample"] == {"clean": result.per_sample["clean"], row["attack"]: result.per_sample[row["attack"]]}
    assert store.get_run(job.run_id)["evaluations"] == rows
    page_rows = store.list_evaluations([job.run_id])
    accuracies = accuracies_from_rows(page_rows)[job.run_id]
    assert accuracies["clean_acc"] == result.clean_acc and accuracies["robust"] == result.robust
    from_rows, _ = robustness_rows([("e", accuracies)])
    from_summary, _ = robustness_rows([("e", result.stored())])
    assert from_rows[0]["clean"] == from_summary[0]["clean"] and from_rows[0]["spsa"] == from_summary[0]["spsa"]


def test_the_report_renders_results_without_streamlit(tmp_path):
    """`taser report` on runs of every kind with a viewer, in a fresh process: no Streamlit."""
    code = f"""
import json, os, sys
os.environ["TASER_DATABASE_URL"] = "sqlite:///{tmp_path / 'taser.db'}"
os.environ["TASER_ARTIFACT_ROOT"] = "{tmp_path / 'artifacts'}"
from db import store
samples = json.loads(open("{Path(__file__).parent / 'data' / 'result_samples.json'}").read())
ids = [store.record_finished_run(kind, {{}}, samples[kind]) for kind in ("toy1d", "bench-overhead", "alignment", "evaluate")]
from app.cli import main
code = main(["report", "--runs", ",".join(map(str, ids)), "--out", "{tmp_path / 'report.html'}"])
print(code, "streamlit" in sys.modules, any(name.startswith("app.dashboard") for name in sys.modules))
"""
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True,
                            timeout=300, env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split()[-3:] == ["0", "False", "False"], result.stdout + result.stderr[-2000:]
    page = (tmp_path / "report.html").read_text()
    assert "Table 1 (ours beside the paper)" in page and "<h2>Robustness</h2>" in page


def test_viewers_give_plain_blocks():
    from app.viewers import RESULT_VIEWERS, FigureBlock, TableBlock, result_blocks

    assert {"toy1d", "bench-overhead", "bench-train-step", "alignment"} <= set(RESULT_VIEWERS)
    blocks = result_blocks("toy1d", parse_result("toy1d", SAMPLES["toy1d"]))
    assert any(isinstance(block, TableBlock) for block in blocks)
    assert any(isinstance(block, FigureBlock) for block in blocks)
    assert result_blocks("noop", parse_result("noop", SAMPLES["noop"])) == []


def test_an_imported_evaluation_is_stored_like_an_evaluate_job(queue_db):
    from app.imports import ImportRejected, import_evaluation
    from db import store
    from db import store

    run_id = import_evaluation("elsewhere.json", json.dumps(SAMPLES["evaluate"]).encode())
    run = store.get_run(run_id)
    assert run["kind"] == "evaluate" and run["status"] == "succeeded" and "import" in run["tags"]
    assert [row["attack"] for row in run["evaluations"]] == ["apgd_ce", "spsa"]
    assert run_id in [found["id"] for found in store.finished_results("evaluate")]
    with pytest.raises(ImportRejected, match="field 'clean_acc'"):
        import_evaluation("bad.json", json.dumps({"clean_acc": 7, "robust": {"spsa": 0.1}}).encode())
    with pytest.raises(ImportRejected, match="not JSON"):
        import_evaluation("bad.json", b"{")
    assert len(store.list_evaluations()) == 2
