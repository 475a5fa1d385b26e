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
- samples what the job's process tree uses (CPU %, memory; the job adds its GPU memory) every
  `SYSTEM_SAMPLE_INTERVAL_S` and as it ends, stored as the run's `system/...` metrics
  (app/system_metrics.py);
- records every failure with a readable reason, including a child that died without a word
  (one killed by SIGKILL, usually out of memory, is retried while it has attempts left) and a
  job whose artifact folder cannot be written (the job fails; the worker goes on).

The database may go away for a while (restart, failover): every call goes through a
`DatabaseLink`, which retries with backoff for up to `db_outage_s`. Meanwhile the job keeps
running; its metric points wait in its journal (`metrics.jsonl`), its latest progress and
checkpoint in memory, its log in its file, and the final state until it can be written. Past
the limit the worker stops the job at a step boundary and exits, saying why (the job's lease
then expires and it resumes from its checkpoint on the next worker).
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
import traceback
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from db import store
from db.session import DatabaseUnavailableError, get_engine

from app.dblink import DatabaseLink
from app.jobs.runner import METRICS_JOURNAL, JobSpec, child_main
from app.jsonlines import JsonLinesTail
from app.paths import artifact_root, run_dir_for
from app.system_metrics import TreeSampler

LOG_FILE = "job.log"
METRICS_WRITE_INTERVAL_S = 0.25
PROGRESS_WRITE_INTERVAL_S = 0.5
LOG_FLUSH_INTERVAL_S = 1.0
CANCEL_POLL_S = 0.5  # how often a running job's cancel flag is read (a cheap SELECT)
METRIC_RECORDS_PER_WRITE = 2000  # journal lines per transaction when catching up
SYSTEM_SAMPLE_INTERVAL_S = 10.0
SYSTEM_FIRST_SAMPLE_S = 1.0  # soon after the start, so that a short job has a point too
DEFAULT_DB_OUTAGE_S = 300.0


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
    db_outage_s: float = DEFAULT_DB_OUTAGE_S  # how long the database may be away before we stop

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
        self.link = DatabaseLink(self.options.db_outage_s, self.options.url, name=f"worker {self.worker_id}")
        self._spawn = multiprocessing.get_context("spawn")

    def run(self) -> int:
        """Process jobs until told to stop; returns how many jobs this worker ran.

        Raises DatabaseUnavailableError, saying for how long and what became of the job, when
        the database stays away longer than `db_outage_s`.
        """
        done = 0
        try:
            self._connect()
            next_reap = 0.0
            while not self.shutdown.is_set():
                if time.monotonic() >= next_reap:  # cheap, but no need to do it on every poll
                    self.link.call(self._reap, stop=self.shutdown)
                    next_reap = time.monotonic() + min(self.options.poll_interval_s,
                                                       self.options.lease_s / 4)
                job = self.link.call(store.claim_next_job, self.worker_id, self.options.lease_s,
                                     url=self.options.url, stop=self.shutdown)
                if job is None:
                    if self.options.once:
                        break
                    self.shutdown.wait(self.options.poll_interval_s)
                    continue
                self._execute(job)
                done += 1
                if self.options.max_jobs is not None and done >= self.options.max_jobs:
                    break
        except DatabaseUnavailableError:
            if not self.shutdown.is_set():
                raise
        return done

    def _connect(self) -> None:
        """Wait for the database at start-up (a container restarted with it, say), schema included."""
        waiting = (f"waiting for the database at {self.link.where}… "
                   f"(up to {self.options.db_outage_s:g} s, --db-outage-s)")
        self.link.call(get_engine, self.options.url, waiting=waiting, stop=self.shutdown)

    def _reap(self) -> None:
        store.reap_expired_leases(url=self.options.url)
        store.fail_jobs_with_failed_dependencies(url=self.options.url)

    def _execute(self, job: store.JobRecord) -> None:
        """One job; a bug in running it fails that job, never the worker (no crash loop)."""
        try:
            JobExecution(self, job).run()
        except DatabaseUnavailableError:
            raise
        except Exception as exc:  # noqa: BLE001 - record it against the job and go on
            traceback.print_exc()
            reason = f"worker error: {type(exc).__name__}: {exc} (see the worker's log)"
            self.link.call(store.fail, job.id, self.worker_id, reason, url=self.options.url,
                           stop=self.shutdown)

    def install_signal_handlers(self) -> None:
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: self.shutdown.set())


class JobExecution:
    """One attempt of one job: child process, heartbeats, message relay, final state.

    What the database must get is written through the worker's link: `_soon` (now if the
    database answers, else kept for the next try) while the job runs, `_must` (retried until
    written or the outage limit) for what ends the attempt.
    """

    def __init__(self, worker: Worker, job: store.JobRecord) -> None:
        self.worker, self.job, self.options = worker, job, worker.options
        self.url = self.options.url
        self.link = worker.link
        self.run_dir = run_dir_for(job.run_id, self.options.root)
        self.log_path = self.run_dir / LOG_FILE
        self.journal = JsonLinesTail(self.run_dir / METRICS_JOURNAL)  # from 0: earlier attempts too
        self.cancel_requested = threading.Event()
        self.lease_lost = threading.Event()
        self.finished = threading.Event()
        self.result: tuple | None = None
        self._log_offset = 0
        self._progress_pending: tuple | None = None
        self._checkpoint_pending: str | None = None
        self._last_write: dict[str, float] = {}
        self._eta_origin: tuple[float, int] | None = None
        self._sampler: TreeSampler | None = None
        self._next_sample = 0.0
        self._system_pending: dict[int, dict[str, float]] = {}
        self._gpu: dict[str, float] = {}  # the job's latest report of its own GPU use
        self._clock_origin = time.monotonic() - _seconds_since_first_start(job)

    # -- lifecycle ---------------------------------------------------------------------------

    def run(self) -> str:
        try:
            self._prepare_run_dir()
        except OSError as exc:  # the job's environment, not the worker's: fail the job, go on
            reason = (f"artifact root not writable: {self.options.root} "
                      f"({exc.strerror or exc}: {exc.filename or self.run_dir})")
            print(f"worker {self.worker.worker_id}: job {self.job.id}: {reason}", flush=True)
            self._must(store.fail, self.job.id, self.worker.worker_id, reason, url=self.url)
            return "failed"
        parent_conn, child_conn = self._spawn_pipe()
        process = self.worker._spawn.Process(
            target=child_main, args=(self._spec(), child_conn),
            name=f"taser-job-{self.job.id}", daemon=True)
        process.start()
        child_conn.close()  # keep only the child's copy, so its exit reads as EOF here
        self._sampler = TreeSampler(process.pid)
        self._next_sample = time.monotonic() + SYSTEM_FIRST_SAMPLE_S
        beat = threading.Thread(target=self._heartbeat_loop, daemon=True)
        beat.start()
        try:
            stopped_by = self._relay(process, parent_conn)
        finally:
            self.finished.set()
            beat.join()
            parent_conn.close()
            process.join(timeout=5)
            _kill(process)  # only if still there (the relay failed): no job runs on unwatched
        return self._record_outcome(process.exitcode, stopped_by)

    def _prepare_run_dir(self) -> None:
        """The run folder, writable (a log file we can append to), before any child starts."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as handle:
            self._log_offset = handle.tell()

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
        while True:
            if self.lease_lost.is_set():
                _kill(process)
                return "lease lost"
            if stop_sent_at is None and (reason := self._stop_reason()):
                stopped_by = reason
                _send_quietly(conn, "stop")
                stop_sent_at = time.monotonic()
            if stop_sent_at is not None and time.monotonic() - stop_sent_at > self.options.grace_s:
                _terminate(process)
                return stopped_by
            try:
                if conn.poll(0.1):
                    self._handle(conn.recv())
            except (EOFError, OSError):
                return stopped_by  # the child closed its end: it finished or died
            else:
                if not process.is_alive() and not _has_data(conn):
                    return stopped_by
            if time.monotonic() >= self._next_sample:
                self._sample_system()
            self._write_due()

    def _stop_reason(self) -> str | None:
        if self.cancel_requested.is_set():
            return "cancel"
        if self.worker.shutdown.is_set():
            return "shutdown"
        if self.link.given_up():
            print(f"worker {self.worker.worker_id}: {self.link.gone_message(f'stopping job {self.job.id}')}",
                  flush=True)
            return "database"
        return None

    def _heartbeat_loop(self) -> None:
        """Extend the lease every heartbeat interval; between beats, look for a cancel (a read)."""
        next_beat = time.monotonic() + self.options.heartbeat_interval()
        while not self.finished.wait(min(CANCEL_POLL_S, self.options.heartbeat_interval())):
            try:
                if time.monotonic() >= next_beat:
                    done, beat = self._soon(store.heartbeat, self.job.id, self.worker.worker_id,
                                            self.options.lease_s, url=self.url)
                    if done:
                        next_beat = time.monotonic() + self.options.heartbeat_interval()
                else:
                    done, beat = self._soon(store.job_control, self.job.id, self.worker.worker_id,
                                            url=self.url)
            except Exception as exc:  # noqa: BLE001 - an unexpected error must not kill the job
                print(f"worker {self.worker.worker_id}: heartbeat failed: {exc}", flush=True)
                continue
            if not done:
                continue
            if not beat.owned:
                self.lease_lost.set()
            elif beat.cancel_requested:
                self.cancel_requested.set()

    # -- messages from the child ------------------------------------------------------------

    def _handle(self, message: tuple) -> None:
        tag = message[0]
        if tag == "progress":
            self._progress_pending = message[1:]
        elif tag == "checkpoint":
            self._checkpoint_pending = self._relative(message[1])
        elif tag == "system":
            self._gpu = dict(message[1])
        elif tag in ("succeeded", "stopped", "failed"):
            self._sample_system()  # the last look at the job's processes, while they are there
            self.result = message

    def _sample_system(self) -> None:
        self._next_sample = time.monotonic() + SYSTEM_SAMPLE_INTERVAL_S
        sample = self._sampler.sample() if self._sampler else {}
        if sample or self._gpu:
            step = int(time.monotonic() - self._clock_origin)
            self._system_pending[step] = {**self._system_pending.get(step, {}), **sample, **self._gpu}

    # -- writing to the database ------------------------------------------------------------

    def _soon(self, fn, *args, **kwargs):
        return self.link.attempt(fn, *args, **kwargs)

    def _must(self, fn, *args, **kwargs):
        # A worker told to stop does not sit out an outage: the lease hands the job on.
        return self.link.call(fn, *args, stop=self.worker.shutdown, **kwargs)

    def _writes(self):
        """(what, minimum interval, is anything waiting?, write) for each kind of report.

        A write is offered to the link only when something waits: a call that does not reach
        the database would otherwise pass for the database being back.
        """
        return (("metrics", METRICS_WRITE_INTERVAL_S, self.journal.has_more, self._write_metrics),
                ("progress", PROGRESS_WRITE_INTERVAL_S, lambda: self._progress_pending is not None,
                 self._write_progress),
                ("checkpoint", 0.0, lambda: self._checkpoint_pending is not None, self._write_checkpoint),
                ("system", 0.0, lambda: bool(self._system_pending), self._write_system),
                ("log", LOG_FLUSH_INTERVAL_S, self._log_has_more, self._write_log))

    def _write_due(self) -> None:
        """Whatever is due and waiting, if the database answers; the rest waits for the next try."""
        now = time.monotonic()
        for what, interval, waiting, write in self._writes():
            if now - self._last_write.get(what, 0.0) >= interval and waiting():
                done, _ = self._soon(write)
                if done:
                    self._last_write[what] = now

    def _write_all(self) -> None:
        """Everything still waiting, retried through an outage (the attempt is ending)."""
        for _, _, waiting, write in self._writes():
            if waiting():
                self._must(write)

    def _write_metrics(self) -> None:
        """Copy the journal's new points into the database, in batches; a batch that fails is
        offered again (writing a point twice overwrites it with itself)."""
        while True:
            records, end = self.journal.peek(METRIC_RECORDS_PER_WRITE)
            if records:
                store.log_metric_points(self.job.run_id, [(r["step"], r["metrics"]) for r in records],
                                        url=self.url)
            self.journal.advance(end)
            if len(records) < METRIC_RECORDS_PER_WRITE:
                return

    def _write_system(self) -> None:
        store.log_metric_points(self.job.run_id, sorted(self._system_pending.items()), url=self.url)
        self._system_pending = {}

    def _write_progress(self) -> None:
        if self._progress_pending is None:
            return
        step, total, message = self._progress_pending
        store.set_progress(self.job.id, step, total, message, self._eta(step, total, time.monotonic()),
                           url=self.url)
        self._progress_pending = None

    def _write_checkpoint(self) -> None:
        """Record the newest checkpoint, after the points reported before it."""
        if self._checkpoint_pending is None:
            return
        self._write_metrics()
        self._write_progress()
        store.set_checkpoint(self.job.id, self._checkpoint_pending, url=self.url)
        self._checkpoint_pending = None

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

    def _log_has_more(self) -> bool:
        try:
            return self.log_path.stat().st_size > self._log_offset
        except OSError:
            return False

    def _write_log(self) -> None:
        data = self._read_log()
        if data:
            store.append_log_tail(self.job.id, data.decode("utf-8", errors="replace"), url=self.url)
            self._log_offset += len(data)

    def _read_log(self) -> bytes:
        try:
            with open(self.log_path, "rb") as handle:
                handle.seek(self._log_offset)
                return handle.read()
        except OSError:  # gone or unreadable: the log tail is a convenience, the job goes on
            return b""

    def _register_log_artifact(self) -> None:
        try:
            data = self.log_path.read_bytes()
        except OSError:  # nothing to register
            return
        self._must(store.add_artifact, self.job.run_id, "log", self._relative(str(self.log_path)),
                   hashlib.sha256(data).hexdigest(), len(data), url=self.url)

    # -- the end ----------------------------------------------------------------------------

    def _record_outcome(self, exitcode: int | None, stopped_by: str | None) -> str:
        job_id, me, url = self.job.id, self.worker.worker_id, self.url
        if stopped_by == "lease lost":
            if self.journal.has_more():  # harmless for the new owner: same points, same values
                self._soon(self._write_metrics)
            return "lost"
        if stopped_by == "database":
            back, _ = self._soon(store.job_control, job_id, me, url=url)
            if not back:
                raise DatabaseUnavailableError(self.link.gone_message(
                    f"stopped job {job_id} at its last checkpoint; once the database is back and the "
                    f"job's lease has expired, a worker resumes it from there"))
            stopped_by = "shutdown"  # back while the job stopped: record its result, or give it back
        try:
            return self._record_final_state(exitcode, stopped_by)
        except DatabaseUnavailableError:
            if self.worker.shutdown.is_set():
                raise
            raise DatabaseUnavailableError(self.link.gone_message(
                f"job {job_id} ended but its final state could not be recorded; once the database "
                f"is back and the job's lease has expired, a worker runs it again from its "
                f"last checkpoint")) from None

    def _evaluations(self) -> list:
        """Evaluation rows the runner's result message carries after the summary, if any; they
        are written in the same transaction as the job's success."""
        return list(self.result[2]) if len(self.result) > 2 and self.result[2] else []

    def _record_final_state(self, exitcode: int | None, stopped_by: str | None) -> str:
        job_id, me, url = self.job.id, self.worker.worker_id, self.url
        self._write_all()
        self._register_log_artifact()  # before the final state: a finished job has its log
        outcome = self.result[0] if self.result else None
        if outcome == "succeeded":
            self._must(store.complete, job_id, me, self.result[1], evaluations=self._evaluations(), url=url)
            return "succeeded"
        if outcome == "failed":
            self._must(store.fail, job_id, me, self.result[1], url=url)
            return "failed"
        if stopped_by == "cancel":
            self._must(store.cancel, job_id, me, url=url)
            return "cancelled"
        if stopped_by == "shutdown":
            self._must(store.release, job_id, me, url=url)
            return "queued"
        if outcome == "stopped":  # the job stopped on its own account
            self._must(store.complete, job_id, me, self.result[1], evaluations=self._evaluations(), url=url)
            return "succeeded"
        if exitcode == -signal.SIGKILL:  # out of memory, most often: worth another attempt
            return self._must(store.retry_or_fail, job_id, me, _death_reason(exitcode), url=url) or "lost"
        self._must(store.fail, job_id, me, _death_reason(exitcode), url=url)
        return "failed"


def _seconds_since_first_start(job: store.JobRecord) -> float:
    """How long ago the job's first attempt started, by the database's clock (both times are
    its own, so a worker's clock that is off does not matter); 0 where they are not known."""
    from datetime import datetime

    try:
        started = datetime.fromisoformat(job.started_at.rstrip("Z"))
        claimed = datetime.fromisoformat(job.heartbeat_at.rstrip("Z"))
    except (AttributeError, TypeError, ValueError):
        return 0.0
    return max(0.0, (claimed - started).total_seconds())


def _death_reason(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        name = signal.Signals(-exitcode).name
        if -exitcode == signal.SIGKILL:
            return f"job process was killed by {name} (likely out of memory)"
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
