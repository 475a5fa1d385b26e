"""What a run is filed under besides its config: name, tags, notes, priority, attempts, parent.

Validated once here for every way in (`taser submit`, the Launch form, a run's notes and tags,
a model import), with the same limits on SQLite and PostgreSQL: the name fits its column, and
tags and notes are bounded although their columns are not, because every run listing carries them.
"""

from __future__ import annotations

from typing import Annotated, Any

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
