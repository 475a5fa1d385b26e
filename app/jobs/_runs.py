"""Helpers for job kinds that refer to other runs by id (never by a user-typed path)."""

from __future__ import annotations

import json
from typing import Any

from app.paths import run_dir_for


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
    return run_id if run_id >= 1 else None


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
