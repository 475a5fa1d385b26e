"""Queueing a job: `submit` is the one way in, and what a run is filed under besides its config.

`submit` (used by `taser submit`, `taser demo`, the Launch form, the alignment view) normalises the
config once and derives the job's parent run and the runs it waits for from the config's run
references once, so every way in queues the same job for the same config.

`RunOptions` (name, tags, notes, priority, attempts, parent) is validated here for every way in
(also a run's notes and tags, a model import), with the same limits on SQLite and PostgreSQL: the
name fits its column, and tags and notes are bounded although their columns are not, because every
run listing carries them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from app.jobs._runs import RunId
from db.store import RUN_NAME_LENGTH
from taser_engine.fields import format_errors

TAG_LENGTH = 64  # a label for filtering, shown in tables
MAX_TAGS = 32  # labels, not a document
NOTES_LENGTH = 10_000  # a few paragraphs; every run listing reads them
MAX_PRIORITY = 1_000_000  # ordering needs a few levels; well inside the int32 priority column
MAX_ATTEMPTS = 100  # retries of a job whose worker keeps dying; each may take hours

Tag = Annotated[str, Field(min_length=1, max_length=TAG_LENGTH)]


class RunOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, max_length=RUN_NAME_LENGTH)
    tags: list[Tag] = Field(default_factory=list, max_length=MAX_TAGS)
    notes: str = Field("", max_length=NOTES_LENGTH)
    priority: int = Field(0, ge=-MAX_PRIORITY, le=MAX_PRIORITY)
    max_attempts: int = Field(3, ge=1, le=MAX_ATTEMPTS)
    parent_run_id: RunId | None = None

    @field_validator("tags", mode="before")
    @classmethod
    def _clean_tags(cls, tags: Any) -> Any:
        """Trimmed, empty ones dropped, duplicates removed (order kept)."""
        if isinstance(tags, (list, tuple)):
            return list(dict.fromkeys(t.strip() if isinstance(t, str) else t for t in tags
                                      if not (isinstance(t, str) and not t.strip())))
        return tags

    @field_validator("name", mode="before")
    @classmethod
    def _blank_name_is_none(cls, name: Any) -> Any:
        return (name.strip() or None) if isinstance(name, str) else name


def split_tags(text: str) -> list[str]:
    """'a, b; c' -> ['a', ' b', ' c'] (RunOptions trims and drops empty ones)."""
    return text.replace(";", ",").split(",")


def run_options(**values: Any) -> RunOptions:
    """RunOptions, or ValueError with one line naming each bad field."""
    try:
        return RunOptions(**values)
    except ValidationError as exc:
        raise ValueError(format_errors(exc)) from None


class SubmissionError(ValueError):
    """Nothing was queued: a bad config or option, or a referenced run that does not exist (one line)."""


class Submitted(NamedTuple):
    job_id: int
    run_id: int


def submit(kind: str, config: Mapping[str, Any] | BaseModel | None,
           options: RunOptions | Mapping[str, Any] | None = None, *, study: tuple[int, str] | None = None,
           url: str | None = None) -> Submitted:
    """Validate `config` for `kind` and queue it; the job waits for every run its config reads.

    The parent run is `options.parent_run_id` if given, else the first run the config reads.
    `study`: (study id, plan key) for a study's job (store.StudyKeyTaken when that key is queued).
    Raises SubmissionError naming the problem; nothing is queued then.
    """
    from app.jobs import JobConfigError, normalized_config, referenced_run, referenced_runs
    from db import store

    raw = config.model_dump(mode="json") if isinstance(config, BaseModel) else dict(config or {})
    try:
        stored = normalized_config(kind, raw)
        if not isinstance(options, RunOptions):
            options = run_options(**dict(options or {}))
    except (JobConfigError, ValueError) as exc:
        raise SubmissionError(str(exc)) from None
    parent = options.parent_run_id if options.parent_run_id is not None else referenced_run(stored)
    try:
        job_id = store.submit_job(kind, stored, name=options.name, parent_run_id=parent,
                                  depends_on=referenced_runs(stored), tags=options.tags,
                                  priority=options.priority, max_attempts=options.max_attempts, study=study,
                                  notes=options.notes, url=url)
    except store.StudyKeyTaken:
        raise
    except store.QueueError as exc:
        raise SubmissionError(str(exc)) from None
    return Submitted(job_id, store.get_job(job_id, url=url).run_id)
