"""`taser dashboard`: serve the Streamlit app, with an embedded worker unless --no-worker.

The worker is a `taser worker` subprocess started once per dashboard process (not per browser
session or script rerun), sharing the same TASER_DATABASE_URL; it is stopped when the dashboard
exits, normally or on Ctrl-C / SIGTERM. On SIGTERM the worker hands its running job back to the
queue, so nothing is lost.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

APP_ENTRY = Path(__file__).resolve().parent.parent / "dashboard" / "main.py"
WORKER_STOP_S = 15.0


def register(subparsers) -> None:
    p = subparsers.add_parser("dashboard", help="serve the dashboard (Streamlit) in the browser")
    from app.commands._args import int_in

    p.add_argument("--port", type=int_in(1, 65_535), default=8501)
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: localhost only)")
    p.add_argument("--no-worker", action="store_true", help="do not start the embedded worker")
    p.set_defaults(handler=run)


def streamlit_command(host: str, port: int) -> list[str]:
    from app.imports import MAX_WEIGHTS_BYTES

    return [sys.executable, "-m", "streamlit", "run", str(APP_ENTRY),
            "--server.address", host, "--server.port", str(port), "--server.headless", "true",
            "--browser.gatherUsageStats", "false", "--client.showErrorDetails", "false",
            "--server.fileWatcherType", "none",
            "--client.toolbarMode", "minimal",
            "--server.maxUploadSize", str(MAX_WEIGHTS_BYTES // 1024**2)]


def worker_command() -> list[str]:
    return [sys.executable, "-m", "app.cli", "worker"]


def run(args) -> int:
    from app.cli import UserError
    from app.dashboard.access import exposure_problem

    problem = exposure_problem(args.host)
    if problem:
        raise UserError(problem)
    env = dict(os.environ)
    env["TASER_EMBEDDED_WORKER"] = "0" if args.no_worker else "1"
    worker = None if args.no_worker else subprocess.Popen(worker_command(), env=env)
    server = subprocess.Popen(streamlit_command(args.host, args.port), env=env)
    previous = signal.signal(signal.SIGTERM, lambda *_: server.terminate())
    try:
        return server.wait()
    except KeyboardInterrupt:
        server.terminate()
        return server.wait()
    finally:
        signal.signal(signal.SIGTERM, previous)
        if server.poll() is None:
            server.terminate()
            server.wait(10)
        stop_worker(worker)


def stop_worker(worker: subprocess.Popen | None) -> None:
    if worker is None or worker.poll() is not None:
        return
    worker.terminate()  # SIGTERM: the worker gives its running job back to the queue, then exits
    try:
        worker.wait(WORKER_STOP_S)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.wait()
