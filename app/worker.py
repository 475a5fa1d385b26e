"""The background worker: claims jobs from the queue and runs each in its own child process.

One worker runs one job at a time; start several for parallelism, on one machine (SQLite or
PostgreSQL) or several (PostgreSQL). Per job the worker
- spawns a fresh process (multiprocessing "spawn": no state inherited; the child imports only
  what the job kind needs) and relays its progress, metrics and checkpoints to the database;
- heartbeats from a thread, extending the job's lease; if the worker dies, the lease expires and
  another worker re-queues the job, which resumes from its last recorded checkpoint;
- on a cancel request asks the child to stop at its next step, then terminates it after
  `grace_s`; records `cancelled`;
- keeps a tail of the job's log in the database and registers the full log as an artifact;
- records every failure with a readable reason, including a child that died without a word.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.exc import OperationalError

from db import queue
from db.models import Job
from db.session import get_engine

from app.jobs.runner import JobSpec, child_main
from app.paths import artifact_root, run_dir_for

LOG_FILE = "job.log"
PROGRESS_WRITE_INTERVAL_S = 0.5
LOG_FLUSH_INTERVAL_S = 1.0
CANCEL_POLL_S = 0.5  # how often a running job's cancel flag is read (a cheap SELECT)


@dataclass
class WorkerOptions:
    lease_s: float = 60.0  # a job whose worker is silent this long is re-queued
    poll_interval_s: float = 1.0  # pause between queue polls when idle
    grace_s: float = 10.0  # after a cooperative cancel, terminate the child after this long
    heartbeat_s: float | None = None  # default: a third of the lease
    max_jobs: int | None = None  # exit after this many jobs
    once: bool = False  # exit as soon as the queue is empty
    url: str | None = None  # database (default: TASER_DATABASE_URL)
    root: Path = field(default_factory=artifact_root)

    def heartbeat_interval(self) -> float:
        return self.heartbeat_s or max(0.05, self.lease_s / 3)


def start_worker_process(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    """Run `taser worker ARGS` as a separate process (e.g. the dashboard's embedded worker).

    A separate process keeps the worker's signal handling and its spawned job processes
    independent of the host (Streamlit re-runs scripts, and spawn re-imports the host's main).
    """
    return subprocess.Popen([sys.executable, "-m", "app.cli", "worker", *args],
                            env=env if env is not None else dict(os.environ))


def new_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Worker:
    def __init__(self, options: WorkerOptions | None = None, worker_id: str | None = None) -> None:
        self.options = options or WorkerOptions()
        self.worker_id = worker_id or new_worker_id()
        self.shutdown = threading.Event()  # set by SIGTERM/SIGINT: finish, give the job back
        self._spawn = multiprocessing.get_context("spawn")

    def run(self) -> int:
        """Process jobs until told to stop; returns how many jobs this worker ran."""
        get_engine(self.options.url)  # creates / upgrades the schema before the first claim
        done = 0
        next_reap = 0.0
        while not self.shutdown.is_set():
            try:
                if time.monotonic() >= next_reap:  # cheap, but no need to do it on every poll
                    queue.reap_expired_leases(url=self.options.url)
                    queue.fail_jobs_with_failed_dependencies(url=self.options.url)
                    next_reap = time.monotonic() + min(self.options.poll_interval_s,
                                                       self.options.lease_s / 4)
                job = queue.claim_next_job(self.worker_id, self.options.lease_s, url=self.options.url)
            except OperationalError as exc:  # database restarting or unreachable: wait, retry
                print(f"worker {self.worker_id}: database unavailable, retrying: "
                      f"{str(exc).splitlines()[0]}", flush=True)
                self.shutdown.wait(max(self.options.poll_interval_s, 2.0))
                continue
            if job is None:
                if self.options.once:
                    break
                self.shutdown.wait(self.options.poll_interval_s)
                continue
            JobExecution(self, job).run()
            done += 1
            if self.options.max_jobs is not None and done >= self.options.max_jobs:
                break
        return done

    def install_signal_handlers(self) -> None:
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: self.shutdown.set())


class JobExecution:
    """One attempt of one job: child process, heartbeats, message relay, final state."""

    def __init__(self, worker: Worker, job: Job) -> None:
        self.worker, self.job, self.options = worker, job, worker.options
        self.url = self.options.url
        self.run_dir = run_dir_for(job.run_id, self.options.root)
        self.log_path = self.run_dir / LOG_FILE
        self.cancel_requested = threading.Event()
        self.lease_lost = threading.Event()
        self.finished = threading.Event()
        self.result: tuple | None = None
        self._log_offset = 0
        self._progress_pending: tuple | None = None
        self._last_progress_write = 0.0
        self._eta_origin: tuple[float, int] | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def run(self) -> str:
        try:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            self._log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        except OSError as exc:  # the job's environment, not the worker: fail the job, keep the worker
            reason = f"artifact root not writable: {self.run_dir}: {exc.strerror or exc}"
            queue.fail(self.job.id, self.worker.worker_id, reason, url=self.url)
            return "failed"
        parent_conn, child_conn = self._spawn_pipe()
        process = self.worker._spawn.Process(
            target=child_main, args=(self._spec(), child_conn),
            name=f"taser-job-{self.job.id}", daemon=True)
        process.start()
        child_conn.close()  # keep only the child's copy, so its exit reads as EOF here
        beat = threading.Thread(target=self._heartbeat_loop, daemon=True)
        beat.start()
        try:
            stopped_by = self._relay(process, parent_conn)
        finally:
            self.finished.set()
            beat.join()
            parent_conn.close()
            process.join(timeout=5)
        self._flush_progress(force=True)
        self._flush_log()
        self._register_log_artifact()  # before the final state, so a finished job has its log
        return self._record_outcome(process.exitcode, stopped_by)

    def _spawn_pipe(self):
        return self.worker._spawn.Pipe(duplex=True)

    def _spec(self) -> JobSpec:
        checkpoint = self.job.checkpoint_path
        if checkpoint and not os.path.isabs(checkpoint):
            checkpoint = str(self.options.root / checkpoint)
        return JobSpec(job_id=self.job.id, run_id=self.job.run_id, kind=self.job.kind,
                       config=self.job.config, run_dir=str(self.run_dir),
                       resume_checkpoint=checkpoint, log_path=str(self.log_path),
                       attempt=self.job.attempts, worker_pid=os.getpid())

    def _relay(self, process, conn) -> str | None:
        """Forward the child's messages until it exits; returns why we stopped it, if we did."""
        stop_sent_at: float | None = None
        stopped_by: str | None = None
        last_log_flush = time.monotonic()
        while True:
            if self.lease_lost.is_set():
                _kill(process)
                return "lease lost"
            if stop_sent_at is None and (self.cancel_requested.is_set() or self.worker.shutdown.is_set()):
                stopped_by = "cancel" if self.cancel_requested.is_set() else "shutdown"
                _send_quietly(conn, "stop")
                stop_sent_at = time.monotonic()
            if stop_sent_at is not None and time.monotonic() - stop_sent_at > self.options.grace_s:
                _terminate(process)
                return stopped_by
            try:
                if conn.poll(0.1):
                    self._handle(conn.recv())
                    continue
            except (EOFError, OSError):
                return stopped_by  # the child closed its end: it finished or died
            if not process.is_alive() and not _has_data(conn):
                return stopped_by
            if time.monotonic() - last_log_flush > LOG_FLUSH_INTERVAL_S:
                self._flush_progress()
                self._flush_log()
                last_log_flush = time.monotonic()

    def _heartbeat_loop(self) -> None:
        """Extend the lease every heartbeat interval; between beats, look for a cancel (a read)."""
        next_beat = time.monotonic() + self.options.heartbeat_interval()
        while not self.finished.wait(min(CANCEL_POLL_S, self.options.heartbeat_interval())):
            try:
                if time.monotonic() >= next_beat:
                    beat = queue.heartbeat(self.job.id, self.worker.worker_id,
                                           self.options.lease_s, url=self.url)
                    next_beat = time.monotonic() + self.options.heartbeat_interval()
                else:
                    beat = queue.job_control(self.job.id, self.worker.worker_id, url=self.url)
            except Exception as exc:  # noqa: BLE001 - a busy database must not kill the job
                print(f"worker {self.worker.worker_id}: heartbeat failed: {exc}", flush=True)
                continue
            if not beat.owned:
                self.lease_lost.set()
            elif beat.cancel_requested:
                self.cancel_requested.set()

    # -- messages from the child ------------------------------------------------------------

    def _handle(self, message: tuple) -> None:
        tag = message[0]
        if tag == "metrics":
            queue.log_metrics(self.job.run_id, message[1], message[2], url=self.url)
        elif tag == "progress":
            self._progress_pending = message[1:]
            self._flush_progress()
        elif tag == "checkpoint":
            self._flush_progress(force=True)
            queue.set_checkpoint(self.job.id, self._relative(message[1]), url=self.url)
        elif tag in ("succeeded", "stopped", "failed"):
            self.result = message

    def _flush_progress(self, force: bool = False) -> None:
        if self._progress_pending is None:
            return
        now = time.monotonic()
        if not force and now - self._last_progress_write < PROGRESS_WRITE_INTERVAL_S:
            return
        step, total, message = self._progress_pending
        queue.set_progress(self.job.id, step, total, message, self._eta(step, total, now), url=self.url)
        self._progress_pending, self._last_progress_write = None, now

    def _eta(self, step: int, total: int, now: float) -> float | None:
        """Seconds left, from the pace since this attempt's first progress report."""
        if self._eta_origin is None:
            self._eta_origin = (now, step)
            return None
        start, first_step = self._eta_origin
        if step <= first_step or total <= 0:
            return None
        return (now - start) / (step - first_step) * max(0, total - step)

    def _relative(self, path: str) -> str:
        try:
            return str(Path(path).resolve().relative_to(self.options.root))
        except ValueError:
            return str(Path(path).resolve())

    # -- the end ----------------------------------------------------------------------------

    def _record_outcome(self, exitcode: int | None, stopped_by: str | None) -> str:
        job_id, me, url = self.job.id, self.worker.worker_id, self.url
        if stopped_by == "lease lost":
            return "lost"
        outcome = self.result[0] if self.result else None
        if outcome == "succeeded":
            queue.complete(job_id, me, self.result[1], url=url)
            return "succeeded"
        if outcome == "failed":
            queue.fail(job_id, me, self.result[1], url=url)
            return "failed"
        if stopped_by == "cancel":
            queue.cancel(job_id, me, url=url)
            return "cancelled"
        if stopped_by == "shutdown":
            queue.release(job_id, me, url=url)
            return "queued"
        if outcome == "stopped":  # the job stopped on its own account
            queue.complete(job_id, me, self.result[1], url=url)
            return "succeeded"
        queue.fail(job_id, me, _death_reason(exitcode), url=url)
        return "failed"

    def _flush_log(self) -> None:
        if not self.log_path.exists():
            return
        with open(self.log_path, "rb") as handle:
            handle.seek(self._log_offset)
            data = handle.read()
        if data:
            self._log_offset += len(data)
            queue.append_log_tail(self.job.id, data.decode("utf-8", errors="replace"), url=self.url)

    def _register_log_artifact(self) -> None:
        if not self.log_path.exists():
            return
        digest = hashlib.sha256(self.log_path.read_bytes()).hexdigest()
        queue.add_artifact(self.job.run_id, "log", self._relative(str(self.log_path)), digest,
                           self.log_path.stat().st_size, url=self.url)


def _death_reason(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        name = signal.Signals(-exitcode).name
        if -exitcode == signal.SIGKILL:
            return f"job process was killed by {name} (often the system running out of memory)"
        return f"job process was killed by {name}"
    return f"job process exited with code {exitcode} without reporting a result (see the log)"


def _has_data(conn) -> bool:
    try:
        return conn.poll(0)
    except (EOFError, OSError):
        return False


def _send_quietly(conn, message) -> None:
    try:
        conn.send(message)
    except (BrokenPipeError, OSError):
        pass


def _terminate(process, wait_s: float = 3.0) -> None:
    process.terminate()
    process.join(wait_s)
    if process.is_alive():
        _kill(process)


def _kill(process) -> None:
    if process.is_alive():
        process.kill()
        process.join(5)
