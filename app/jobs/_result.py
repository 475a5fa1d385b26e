"""`JobResult`: the base of every job kind's `Result`, the typed form of a run's stored summary.

A kind's `run(config, ctx)` returns a plain dict; the runner validates it against the kind's
`Result` before it leaves the job process, so a run never stores a summary its readers cannot
parse. `extra="allow"` because summaries stored before a field was declared (or fields a kind
adds without declaring) must still parse: readers rely on the declared fields only.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

Fraction = Annotated[float, Field(ge=0, le=1)]  # an accuracy


class JobResult(BaseModel):
    model_config = ConfigDict(extra="allow", protected_namespaces=())

    # Every kind may end early: a job cancelled where nothing resumable was left sends these
    # (`app.jobs.runner`), and kinds that stop cooperatively say so in their own result.
    stopped: bool | None = None
    cancelled: bool | None = None
    note: str | None = None

    def stored(self) -> dict[str, Any]:
        """The JSON dict stored as the run's summary: the fields the job gave, nothing filled in
        (so a stored summary reads back exactly as the job returned it)."""
        return json_ready(self.model_dump(mode="json", exclude_unset=True, by_alias=True)) or {}

    def evaluation_rows(self) -> list[dict[str, Any]]:
        """Robustness evaluations this result holds, in the fields of `db.store.add_evaluation`
        (stored as rows beside the summary); most kinds hold none."""
        return []


def json_ready(summary: Any) -> dict[str, Any] | None:
    """`summary` as JSON-ready data: string keys, non-finite floats as None (databases and plots
    refuse NaN), numpy/torch scalars as numbers, anything else by its repr."""
    if summary is None:
        return None
    if isinstance(summary, JobResult):
        return summary.stored()
    if not isinstance(summary, Mapping):
        return {"result": repr(summary)}
    return {str(key): _plain(value) for key, value in summary.items()}


def _plain(value: Any) -> Any:
    if isinstance(value, (str, int, bool)) or value is None:
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if hasattr(value, "item"):  # numpy / torch scalars
        return _plain(value.item())
    return repr(value)


class BenchResult(JobResult):
    """A benchmark's result: its settings and one row per measured case (the Overhead page's input)."""

    settings: dict[str, Any] | None = None
    torch: str | None = None
    rows: list[dict[str, Any]] = []
    wall_s: float | None = None
