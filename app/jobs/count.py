"""`count` job: a small resumable iterative computation, the reference for kill/resume tests.

Each step runs one gradient-descent update of a scalar quadratic, logs the loss and a running
sum, and checkpoints its whole state (step, x, running sum) to a JSON file in the run folder.
The final metrics depend on every step's state, so a resume that restored the wrong state or
skipped/repeated a step would end with different numbers than an uninterrupted run.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from taser_engine.atomic_files import atomic_write_bytes
from app.jobs._result import JobResult
from taser_engine.fields import MAX_STEPS

STATE_FILE = "count_state.json"


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    steps: int = Field(20, ge=1, le=1_000_000, description="number of steps (epochs)")
    step_s: float = Field(0.05, ge=0.0, le=60.0, description="seconds each step sleeps")
    # above 1 the iteration x <- x - 2·lr·(x - 1) diverges until (x - 1)^2 overflows
    lr: float = Field(0.1, gt=0.0, le=1.0, description="gradient-descent step size")
    # (x0 - 1)^2 overflows to inf past ~1e154; the iterates only shrink from there
    x0: float = Field(5.0, ge=-1e6, le=1e6, description="starting point of the quadratic (x - 1)^2")
    fail_at_step: int | None = Field(None, ge=1, le=MAX_STEPS, description="simulate a NaN loss at this step")
    cooperative: bool = Field(True, description="honour cancel requests (False: must be killed)")


class Result(JobResult):
    """The final state; `running_sum` depends on every step, so resume tests compare it."""

    step: int = Field(0, ge=0)
    x: float | None = None
    running_sum: float | None = None


def run(config: Config, ctx) -> dict:
    state = _load_state(ctx.resume_checkpoint)
    if state is None:
        state = {"step": 0, "x": config.x0, "running_sum": 0.0}
    else:
        print(f"resuming from step {state['step']} ({ctx.resume_checkpoint})", flush=True)
    checkpoint = Path(ctx.run_dir) / STATE_FILE
    while state["step"] < config.steps:
        if config.cooperative and ctx.should_stop():
            print(f"stopping at step {state['step']}: cancel requested", flush=True)
            break
        step = state["step"] + 1
        if config.fail_at_step == step:
            raise FloatingPointError(f"loss became NaN at step {step} (fail_at_step was set)")
        time.sleep(config.step_s)
        x = state["x"] - config.lr * 2.0 * (state["x"] - 1.0)
        loss = (x - 1.0) ** 2
        running_sum = state["running_sum"] + loss * step
        state = {"step": step, "x": x, "running_sum": running_sum}
        ctx.on_metrics(step, {"loss": loss, "x": x, "running_sum": running_sum})
        _write_state(checkpoint, state)
        ctx.on_checkpoint(checkpoint, step)
        ctx.on_progress(step, config.steps, f"step {step}/{config.steps}")
    return dict(state)


def _load_state(path) -> dict | None:
    if path is None or not Path(path).exists():
        return None
    try:
        state = json.loads(Path(path).read_text())
        return {"step": int(state["step"]), "x": float(state["x"]),
                "running_sum": float(state["running_sum"])}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        from app.jobs import JobError

        raise JobError(f"checkpoint {path} is corrupted ({type(exc).__name__}: {exc}); delete it "
                       "to start this run again from the beginning") from exc


def _write_state(path: Path, state: dict) -> None:
    atomic_write_bytes(path, json.dumps(state).encode())  # a kill mid-write keeps the previous one
