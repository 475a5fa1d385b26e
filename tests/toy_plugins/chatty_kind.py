"""A job kind that writes to its log every way a job's code does, then waits to be released.

Python's print, a logger outside `taser`, a warning, C's printf and a subprocess each write one
line naming its source; the job then waits (up to `wait_s`) for the file `release` in its run
folder, so a test can read the log while the job is still running."""

from __future__ import annotations

import ctypes
import logging
import subprocess
import sys
import time
import warnings
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from app.jobs import JOB_KINDS, JobResult

JOB_KINDS["chatty"] = __name__
RELEASE_FILE = "release"


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid")
    wait_s: float = Field(30.0, ge=0.0, le=120.0, description="how long to wait for the release file")


class Result(JobResult):
    released: bool


def run(config: Config, ctx) -> dict:
    print("chatty: print to stdout")
    print("chatty: print to stderr", file=sys.stderr)
    logging.getLogger("chatty.library").info("chatty: logger info")
    warnings.warn("chatty: a warning", UserWarning)
    ctypes.CDLL(None).printf(b"chatty: printf from C\n")  # no fflush: the C buffer must be live
    subprocess.run([sys.executable, "-c", "print('chatty: subprocess')"], check=True)
    ctx.on_progress(1, 2, "waiting for release")
    release = Path(ctx.run_dir) / RELEASE_FILE
    deadline = time.monotonic() + config.wait_s
    while not release.exists() and not ctx.should_stop() and time.monotonic() < deadline:
        time.sleep(0.05)
    ctx.on_progress(2, 2, "done")
    return {"released": release.exists()}
