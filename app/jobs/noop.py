"""`noop` job: does nothing and succeeds; measures queue overhead and drains in tests."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from app.jobs._result import JobResult
from taser_engine.fields import MAX_TEXT


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    tag: str = Field("", max_length=MAX_TEXT)  # free text, echoed in the summary so tests can tell jobs apart


class Result(JobResult):
    tag: str = ""


def run(config: Config, ctx) -> dict:
    ctx.on_progress(1, 1, "done")
    return {"tag": config.tag}
