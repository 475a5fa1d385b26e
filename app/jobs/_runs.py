"""Helpers for job kinds that refer to other runs by id, and read local inputs only under the roots."""

from __future__ import annotations

import json
from typing import Annotated, Any

from pydantic import BaseModel, Field, ValidationInfo, field_validator

from app.paths import allowed_input_path, run_dir_for
from taser_engine.fields import looks_like_hub_id

# Ids are Integer columns: int32 on PostgreSQL (SQLite would store more, PostgreSQL refuses it).
MAX_ROW_ID = 2**31 - 1
RunId = Annotated[int, Field(ge=1, le=MAX_ROW_ID)]

# Config fields naming a local input. A score model may also be 'gaussian' or a hub id, a score
# cache 'auto' or 'off' (not paths); a score cache file is written as well as read, so it too must
# lie under a root.
INPUT_PATH_FIELDS = ("data_root", "score_model", "source", "score_cache")
SCORE_MODEL_FIELD, GAUSSIAN = "score_model", "gaussian"
NOT_PATHS = {"score_cache": ("auto", "off")}


class InputPaths(BaseModel):
    """Mixin of job configs: every local input lies under a data root (`app.paths.allowed_input_path`)."""

    @field_validator(*INPUT_PATH_FIELDS, check_fields=False)
    @classmethod
    def _under_a_root(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None or value in NOT_PATHS.get(info.field_name, ()) or (
                info.field_name == SCORE_MODEL_FIELD and (value == GAUSSIAN or looks_like_hub_id(value))):
            return value
        return allowed_input_path(value)


def run_id_in(data: Any, id_field: str) -> int | None:
    """`data[id_field]` when it is a usable run id; anything else is left to field validation."""
    if not isinstance(data, dict):
        return None
    value = data.get(id_field)
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        return None
    try:
        run_id = int(value)
    except ValueError:
        return None
    return run_id if 1 <= run_id <= MAX_ROW_ID else None


def fill_path_from_run(data: Any, id_field: str, path_field: str, subdir: str = "") -> Any:
    """Before validation: put the folder of run `data[id_field]` into `data[path_field]`."""
    run_id = run_id_in(data, id_field)
    if run_id is None:
        return data
    folder = run_dir_for(run_id)
    return {**data, path_field: str(folder / subdir if subdir else folder)}


def run_config(run_id: int) -> dict:
    """The stored `config.json` of a finished training run, or {} if it has none."""
    path = run_dir_for(run_id) / "config.json"
    try:
        payload = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return payload if isinstance(payload, dict) else {}
