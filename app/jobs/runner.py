"""The child-process side of a job: validate the config, run the kind, report to the worker.

The worker starts `child_main` in a freshly spawned process per job. This module imports only
light modules (no SQL, no torch): the job kind's module decides what else gets loaded. The child
talks to its worker over a pipe; the worker writes to the database. The child's stdout and
stderr (file descriptors 1 and 2, so native libraries' and subprocesses' output too) go to the
job's log file, line-buffered so the worker can show it while the job runs; so do every logger's
INFO-and-above records and Python warnings, and a progress line now and then.

Metric points do not travel over the pipe: the child appends them to `RUN_DIR/metrics.jsonl`
before the job goes on (so before any checkpoint that follows them), and the worker copies that
journal into the database as the database allows. A worker that dies, or a database that is
away, therefore loses no point: the next attempt's worker copies the whole journal again
(points are keyed by run, key and step, so copying twice changes nothing).

Messages child -> worker: ("progress", step, total, message), ("checkpoint", path, step),
("system", {metric: value}) (this process's GPU use, now and then, while it uses CUDA), then
exactly one of ("succeeded", summary, evaluations), ("stopped", summary, evaluations),
("failed", reason). A summary has been validated against the kind's Result
(`app.jobs.validate_result`): it is `Result.stored()`, and `evaluations` its
`Result.evaluation_rows()`, which the worker stores with it.
Worker -> child: "stop" (cooperative cancel).
"""

from __future__ import annotations

import errno
import logging
import math
import os
import signal
import sys
import time
import traceback
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.jsonlines import JsonLinesWriter
from app.parent_death import die_with_parent
from taser_engine.callbacks import Callbacks

METRICS_JOURNAL = "metrics.jsonl"
# Phrases of allocation failures that do not say "out of memory" themselves.
ALLOCATION_FAILURES = ("defaultcpuallocator: can't allocate", "cannot allocate memory")
# A job may report progress every few milliseconds: the log gets a line when the phase changes
# (the message, numbers aside) or this long after the last one.
PROGRESS_LOG_INTERVAL_S = 10.0
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
GPU_REPORT_INTERVAL_S = 10.0  # as often as the worker samples the rest


@dataclass(frozen=True)
class JobSpec:
    """Everything a child needs to run one attempt of one job (picklable)."""

    job_id: int
    run_id: int
    kind: str
    config: dict[str, Any]
    run_dir: str
    resume_checkpoint: str | None
    log_path: str
    attempt: int
    worker_pid: int


class WorkerContext(Callbacks):
    """The `ctx` a job kind's `run(config, ctx)` receives inside the worker."""

    def __init__(self, spec: JobSpec, conn) -> None:
        self.spec = spec
        self.run_dir = Path(spec.run_dir)
        self.resume_checkpoint = Path(spec.resume_checkpoint) if spec.resume_checkpoint else None
        self.stop_seen = False
        self._conn = conn
        self._journal = JsonLinesWriter(self.run_dir / METRICS_JOURNAL)
        self._progress_logged: tuple[float, str] | None = None
        self._gpu_reported = float("-inf")

    def on_progress(self, step: int, total: int, message: str = "") -> None:
        self._conn.send(("progress", int(step), int(total), str(message)))
        self._log_progress(int(step), int(total), str(message))
        self.report_gpu()

    def report_gpu(self, now: bool = False) -> None:
        """This process's GPU use to the worker (only the job's process can read it), at most
        every GPU_REPORT_INTERVAL_S unless `now`; nothing while CUDA is not in use."""
        if not now and time.monotonic() - self._gpu_reported < GPU_REPORT_INTERVAL_S:
            return
        from app.system_metrics import gpu_usage

        self._gpu_reported = time.monotonic()
        usage = gpu_usage()
        if usage:
            self._conn.send(("system", usage))

    def _log_progress(self, step: int, total: int, message: str) -> None:
        now, phase = time.monotonic(), "".join(c for c in message if not c.isdigit())
        last = self._progress_logged
        if last is None or last[1] != phase or now - last[0] >= PROGRESS_LOG_INTERVAL_S or step >= total:
            print(f"{time.strftime('%Y-%m-%d %H:%M:%S')} progress {step}/{total}: {message}", flush=True)
            self._progress_logged = (now, phase)

    def on_metrics(self, step: int, metrics: Mapping[str, float], scope: str = "step") -> None:
        # Epoch summaries share their step with the last batch's metrics: keep their keys apart.
        prefix = "" if scope == "step" else f"{scope}/"
        values = {f"{prefix}{key}": float(value) for key, value in metrics.items()}
        finite = {key: value for key, value in values.items() if math.isfinite(value)}
        if finite:
            self._journal.append({"step": int(step), "metrics": finite})
        if len(finite) < len(values):  # databases and plots choke on NaN/inf: keep them out
            bad = sorted(set(values) - set(finite))
            print(f"step {step}: non-finite metric values not stored: {bad}", flush=True)
        self.report_gpu()

    def on_checkpoint(self, path, step: int) -> None:
        self._conn.send(("checkpoint", str(path), int(step)))

    def should_stop(self) -> bool:
        while not self.stop_seen and self._conn.poll():
            if self._conn.recv() == "stop":
                self.stop_seen = True
        return self.stop_seen


def child_main(spec: JobSpec, conn) -> None:
    """Entry point of the spawned job process."""
    die_with_parent(signal.SIGKILL, spec.worker_pid)  # no orphan keeps writing checkpoints
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the worker's to handle, not ours
    from taser_engine.callbacks import StopRequested

    try:
        _redirect_output(spec.log_path)  # inside: a full disk here is the job's failure too
        _capture_logging()
        print(f"--- job {spec.job_id} ({spec.kind}) attempt {spec.attempt}, pid {os.getpid()} ---",
              flush=True)
        ctx = WorkerContext(spec, conn)
        from app.jobs import get_kind, validate_config, validate_result
        from app.plugins import load_plugins

        load_plugins()  # spawned: the worker's own registrations are not inherited
        kind = get_kind(spec.kind)
        config = validate_config(spec.kind, spec.config)
        result = validate_result(spec.kind, kind.run(config, ctx))
        ctx.report_gpu(now=True)  # its peak, before the worker's last sample
        outcome = "stopped" if ctx.stop_seen else "succeeded"
        if result is None:
            conn.send((outcome, None, []))
        else:
            conn.send((outcome, result.stored(), result.evaluation_rows()))
    except StopRequested as exc:  # cancelled where there was nothing resumable to return
        conn.send(("stopped", {"stopped": True, "note": str(exc) or "stopped on request"}, []))
    except BaseException as exc:  # noqa: BLE001 - every failure must reach the database
        traceback.print_exc()
        conn.send(("failed", failure_reason(exc)))
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        conn.close()


def failure_reason(exc: BaseException) -> str:
    """A one-line reason a user can act on: bad config, NaN loss, missing data, out of memory,
    a full disk, an unreadable checkpoint."""
    from app.jobs import JobConfigError, JobError

    text = str(exc) or type(exc).__name__
    name = type(exc).__name__
    lowered = text.lower()
    if isinstance(exc, JobConfigError):
        return f"bad config: {text}"
    if isinstance(exc, JobError) or name == "CheckpointError":  # these say what to do already
        return text
    if name == "ValidationError":
        return f"bad config: {text.splitlines()[0]}"
    if (isinstance(exc, MemoryError) or name == "OutOfMemoryError" or "out of memory" in lowered
            or any(phrase in lowered for phrase in ALLOCATION_FAILURES)):
        return f"out of memory: {_allocation_message(text)}"
    storage = storage_reason(exc)
    if storage is not None:
        return storage
    if isinstance(exc, FileNotFoundError):
        missing = exc.filename or text
        return f"missing file or dataset: {missing}"
    if isinstance(exc, FloatingPointError) or "nan" in lowered.split() or "non-finite" in lowered:
        return f"NaN loss: {text}"
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted"
    return f"{name}: {text}"


# errno -> how a failed write of the job's files reads; the path follows.
STORAGE_ERRORS = {
    errno.ENOSPC: "disk full", errno.EDQUOT: "disk quota exceeded",
    errno.EROFS: "read-only file system", errno.EACCES: "permission denied",
    errno.EPERM: "permission denied", errno.ENOTDIR: "not a directory",
}


def storage_reason(exc: BaseException) -> str | None:
    """"disk full: PATH", "permission denied: PATH", ... for an OSError about the job's files."""
    if not isinstance(exc, OSError) or exc.errno not in STORAGE_ERRORS:
        return None
    return f"{STORAGE_ERRORS[exc.errno]}: {exc.filename or exc.strerror}"


def _allocation_message(text: str) -> str:
    """The part of an allocator's message that says how much it wanted (PyTorch prefixes an
    '[enforce fail at alloc_cpu.cpp:...]' line that tells a user nothing)."""
    line = text.splitlines()[0]
    marker = line.find("DefaultCPUAllocator:")
    return line[marker:] if marker >= 0 else line




def _redirect_output(log_path: str) -> None:
    Path(log_path).parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    sys.stdout = open(1, "w", buffering=1, closefd=False)
    sys.stderr = open(2, "w", buffering=1, closefd=False)
    _line_buffer_c_stdout()


def _line_buffer_c_stdout() -> None:
    """C code's printf to a file is block-buffered: its lines would reach the log only at exit."""
    try:
        import ctypes

        libc = ctypes.CDLL(None)
        stdout = ctypes.c_void_p.in_dll(libc, "stdout")
        libc.setvbuf(stdout, None, 1, 0)  # _IOLBF
    except (OSError, ValueError, AttributeError):  # not glibc-like: such output comes at exit
        pass


def _capture_logging() -> None:
    """Every logger's records (the engine's, libraries'), and warnings, into the job's log.

    One handler on the root logger, so records of loggers outside `taser` (`taser_engine.*`, a
    plug-in's) are kept too, each once. It writes to the current sys.stderr: the log file.
    """
    from app.cli import _CurrentStderr

    root = logging.getLogger()
    if not any(isinstance(handler, _CurrentStderr) for handler in root.handlers):
        handler = _CurrentStderr()
        handler.setFormatter(logging.Formatter(LOG_FORMAT, "%Y-%m-%d %H:%M:%S"))
        root.addHandler(handler)
    root.setLevel(logging.INFO)
    logging.captureWarnings(True)
