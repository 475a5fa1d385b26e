"""`taser demo --wait` (issue 18, defect 6): with no worker it used to wait in silence; now it says
once that none is running and how to start one, and keeps quiet while a worker is busy."""

from __future__ import annotations

import pytest

from app.cli import UserError
from app.commands.demo import NO_WORKER_MESSAGE, wait_for


def queued_count_job() -> int:
    from app.submission import submit

    return submit("count", {"steps": 3}, {}).job_id


def test_no_worker_is_said_once_and_how_to_start_one(queue_db, capsys):
    job_id = queued_count_job()
    with pytest.raises(UserError, match="not finished"):
        wait_for([job_id], timeout_s=0.6, poll_s=0.05, no_worker_after_s=0.1)
    out = capsys.readouterr().out
    assert out.count(NO_WORKER_MESSAGE) == 1, out
    assert "taser worker" in out and "taser dashboard" in out


def test_a_busy_worker_is_not_reported_missing(queue_db, capsys):
    from db import store

    busy = queued_count_job()
    waiting = queued_count_job()
    claimed = store.claim_next_job("other-worker", lease_s=60)
    assert claimed is not None and claimed.id == busy
    store.heartbeat(busy, "other-worker", lease_s=60)
    with pytest.raises(UserError):
        wait_for([waiting], timeout_s=0.4, poll_s=0.05, no_worker_after_s=0.1)
    assert NO_WORKER_MESSAGE not in capsys.readouterr().out
