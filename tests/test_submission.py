"""`app.submission.submit`: the one way a job is queued (CLI, demo, Launch form, alignment view)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from app.submission import RunOptions, SubmissionError, Submitted, submit

REPO = Path(__file__).resolve().parents[1]


def test_submit_is_the_only_caller_of_the_queue_outside_db():
    callers = []
    for path in sorted((REPO / "app").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Attribute) and node.attr == "submit_job":
                callers.append(path.relative_to(REPO).as_posix())
    assert callers == ["app/submission.py"]


def test_submit_normalises_the_config_and_returns_job_and_run(queue_db):
    from db import store

    submitted = submit("count", {"steps": 2}, {"name": "  two steps ", "tags": ["a", " a", ""], "priority": 4})
    assert isinstance(submitted, Submitted)
    job = store.get_job(submitted.job_id)
    assert job.run_id == submitted.run_id and job.priority == 4
    assert job.config["steps"] == 2 and "step_s" in job.config  # defaults filled in once, here
    run = store.get_run(submitted.run_id)
    assert run["name"] == "two steps" and run["tags"] == ["a"] and run["parent_run_id"] is None


def test_the_config_may_be_a_validated_model_and_options_a_run_options(queue_db):
    from app.jobs import validate_config
    from db import store

    submitted = submit("count", validate_config("count", {"steps": 3}), RunOptions(max_attempts=1))
    job = store.get_job(submitted.job_id)
    assert job.config["steps"] == 3 and job.max_attempts == 1


def test_run_references_become_the_parent_and_the_dependencies(queue_db):
    from db import store

    source = submit("count", {"steps": 1, "step_s": 0.0})
    score = submit("count", {"steps": 1, "step_s": 0.0})
    child = submit("finetune", {"source_run": source.run_id, "score_model_run": score.run_id}, {"priority": 10})
    assert store.get_run(child.run_id)["parent_run_id"] == source.run_id
    assert [d["run_id"] for d in store.dependencies_of(child.job_id)] == sorted([source.run_id, score.run_id])
    assert store.claim_next_job("w1", 60).id == source.job_id  # the child outranks it but waits


def test_an_explicit_parent_wins_over_the_first_reference(queue_db):
    from db import store

    base = submit("count", {"steps": 1})
    other = submit("count", {"steps": 1})
    child = submit("evaluate", {"model_run": base.run_id}, {"parent_run_id": other.run_id})
    assert store.get_run(child.run_id)["parent_run_id"] == other.run_id
    assert {d["run_id"] for d in store.dependencies_of(child.job_id)} == {base.run_id, other.run_id}


@pytest.mark.parametrize(("kind", "config", "options", "message"), [
    ("count", {"steps": "many"}, None, "invalid count config: field 'steps'"),
    ("no-such-kind", {}, None, "unknown job kind 'no-such-kind'"),
    ("count", {}, {"priority": 10**9}, "priority"),
    ("count", {}, {"colour": "red"}, "colour"),
    ("evaluate", {"model_run": 999}, None, "999"),
])
def test_a_bad_submission_is_one_readable_line_and_queues_nothing(queue_db, kind, config, options, message):
    from db import store

    with pytest.raises(SubmissionError, match=message) as caught:
        submit(kind, config, options)
    assert "\n" not in str(caught.value) and "Traceback" not in str(caught.value)
    assert store.list_jobs() == []
