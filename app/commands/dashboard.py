"""`taser dashboard`: serve the Streamlit app."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

APP_ENTRY = Path(__file__).resolve().parent.parent / "dashboard" / "main.py"


def register(subparsers) -> None:
    p = subparsers.add_parser("dashboard", help="serve the dashboard (Streamlit) in the browser")
    p.add_argument("--port", type=int, default=8501)
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: localhost only)")
    p.add_argument("--no-worker", action="store_true", help="do not start the embedded worker")
    p.set_defaults(handler=run)


def run(args) -> int:
    env = dict(os.environ)
    env["TASER_EMBEDDED_WORKER"] = "0" if args.no_worker else "1"
    cmd = [
        sys.executable, "-m", "streamlit", "run", str(APP_ENTRY),
        "--server.address", args.host,
        "--server.port", str(args.port),
        "--server.headless", "true",
        "--browser.gatherUsageStats", "false",
    ]
    return subprocess.call(cmd, env=env)
