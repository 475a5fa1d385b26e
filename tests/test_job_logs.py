"""A job's output reaches its `job.log` and the database's log tail while it runs (issue 18, gap 6).

The chatty toy kind writes through print (stdout and stderr), a logger outside `taser`, a warning,
C's printf and a subprocess, then waits until the test releases it: every line must be in the log
file and in the store's log tail before the job ends, so a dashboard elsewhere shows it live."""

from __future__ import annotations

import sys
import threading
import time

import pytest

from app.paths import run_dir_for
from app.worker import Worker, WorkerOptions
from db import store

PLUGIN = "tests.toy_plugins.chatty_kind"
LINES = ("chatty: print to stdout", "chatty: print to stderr", "chatty: logger info",
         "chatty: a warning", "chatty: printf from C", "chatty: subprocess")


@pytest.fixture
def chatty(queue_db, monkeypatch):
    from app.jobs import JOB_KINDS
    from app.plugins import load_plugins

    monkeypatch.setenv("TASER_PLUGINS", PLUGIN)
    load_plugins()
    yield queue_db
    JOB_KINDS.pop("chatty", None)
    sys.modules.pop(PLUGIN, None)


def _wait_for(predicate, timeout_s: float = 60.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


def test_prints_logs_warnings_c_and_subprocess_output_reach_the_log_while_the_job_runs(chatty):
    job_id = store.submit_job("chatty", {"wait_s": 60})
    worker = threading.Thread(target=Worker(WorkerOptions(once=True, poll_interval_s=0.05)).run)
    worker.start()
    try:
        job = store.get_job(job_id)
        run_dir = run_dir_for(job.run_id)

        def tail_while_running():
            current = store.get_job(job_id)
            return current.status == "running" and all(line in current.log_tail for line in LINES)

        _wait_for(tail_while_running)
        live = (run_dir / "job.log").read_text()
        assert all(line in live for line in LINES), live
        assert "INFO chatty.library: chatty: logger info" in live  # logger records say whose they are
    finally:
        (run_dir / "release").touch()
        worker.join(timeout=60)
    job = store.get_job(job_id)
    assert job.status == "succeeded", job.error
    log = (run_dir / "job.log").read_text()
    # each once (no second handler); a warning's own line quotes the source that raised it
    assert all(log.count(line) == (2 if line == "chatty: a warning" else 1) for line in LINES), log
    assert "progress 1/2: waiting for release" in log and "progress 2/2: done" in log
    assert all(line in job.log_tail for line in LINES)


def test_the_run_page_log_tab_reads_the_tail_again_while_the_job_is_active(queue_db):
    pytest.importorskip("streamlit.testing.v1")
    from tests.test_dashboard_pages import assert_clean, open_page

    job_id = store.submit_job("count", {"steps": 1})
    store.append_log_tail(job_id, "first line\n")
    at = open_page("run", {"run": str(store.get_job(job_id).run_id)})
    assert_clean(at)
    assert any("first line" in code.value for code in at.code)
    assert any("live: refreshed every 2 s" in caption.value for caption in at.caption)
    store.append_log_tail(job_id, "second line\n")
    at.run()
    assert any("first line\nsecond line" in code.value for code in at.code)
    store.request_cancel(job_id)  # a queued job is cancelled at once: the page stops refreshing
    at.run()
    assert not any("live: refreshed" in caption.value for caption in at.caption)
