"""Several machines, simulated on one: two worker processes, each in its own working directory,
sharing one database (TASER_DATABASE_URL) and one artifact root (TASER_ARTIFACT_ROOT).

Every job must run exactly once, on one of the two, and its files must land in the shared root
(addressed relative to it in the database), never in a worker's own directory.
"""

from __future__ import annotations

import collections
import subprocess
import sys
from pathlib import Path

import pytest

from app.jobs.count import STATE_FILE
from db import store
from tests.queue_support import cli_env, database_url_fixture

JOBS = 6


def _worker(env: dict, cwd: Path, log: Path) -> subprocess.Popen:
    with open(log, "ab") as handle:
        return subprocess.Popen([sys.executable, "-m", "app.cli", "worker", "--once", "--poll-interval", "0.05",
                                 "--lease", "30"], env=env, cwd=cwd, stdout=handle, stderr=subprocess.STDOUT)


# SQLite stands for one host only (its file locking does not hold over NFS); the PostgreSQL case
# starts two worker processes on it, which is slow.
database_url = database_url_fixture("database_url", postgres_marks=pytest.mark.slow)


def test_two_workers_in_their_own_directories_share_queue_and_artifact_root(tmp_path, database_url):
    shared_root = tmp_path / "shared-artifacts"
    env = cli_env(database_url, shared_root)
    ids = [store.submit_job("count", {"steps": 3, "step_s": 0.2}, url=database_url) for _ in range(JOBS)]
    homes = [tmp_path / "machine-a", tmp_path / "machine-b"]
    for home in homes:
        home.mkdir()
    workers = [_worker(env, home, tmp_path / f"{home.name}.log") for home in homes]
    for worker, home in zip(workers, homes):
        assert worker.wait(timeout=300) == 0, (tmp_path / f"{home.name}.log").read_text()

    jobs = [store.get_job(job_id, url=database_url) for job_id in ids]
    assert collections.Counter(job.status for job in jobs) == {"succeeded": JOBS}
    assert {job.attempts for job in jobs} == {1}
    assert len({job.worker_id for job in jobs}) == 2  # both machines took work
    for job in jobs:
        run_dir = shared_root / "runs" / str(job.run_id)
        assert (run_dir / STATE_FILE).is_file() and (run_dir / "job.log").is_file()
        assert not Path(job.checkpoint_path).is_absolute()  # relative to whichever machine's mount
        assert (shared_root / job.checkpoint_path).resolve() == (run_dir / STATE_FILE).resolve()
        artifacts = store.get_run(job.run_id, url=database_url)["artifacts"]
        assert [(shared_root / a["path"]).is_file() for a in artifacts] == [True] * len(artifacts) != []
    for home in homes:  # nothing was written relative to a worker's working directory
        assert list(home.iterdir()) == []
