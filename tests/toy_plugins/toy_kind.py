"""A toy job kind (Config, Result, run) and its result viewer: the triangular number of `n`.

Imports nothing heavy, so its job process starts quickly."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from app.jobs import JOB_KINDS, JobResult
from app.viewers import TableBlock, TextBlock, register_viewer

JOB_KINDS["toy-triangle"] = __name__


class Config(BaseModel):
    """Adds 1..n (a toy kind)."""

    model_config = ConfigDict(extra="forbid")
    n: int = Field(4, ge=1, le=1000, description="how many numbers to add")


class Result(JobResult):
    n: int
    total: int


def run(config: Config, ctx) -> dict:
    total = 0
    for i in range(1, config.n + 1):
        total += i
        ctx.on_progress(i, config.n, f"added {i}")
    return {"n": config.n, "total": total}


@register_viewer("toy-triangle")
def triangle_blocks(result: Result) -> list:
    return [TextBlock(f"toy triangle: 1..{result.n} adds up to {result.total}"),
            TableBlock([{"n": result.n, "total": result.total}], "Toy triangle")]
