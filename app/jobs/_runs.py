"""Helpers for job kinds that refer to other runs by id (never by a user-typed path)."""

from __future__ import annotations

import json
from typing import Any

from app.paths import run_dir_for


def fill_path_from_run(data: Any, id_field: str, path_field: str, subdir: str = "") -> Any:
    """Before validation: put the folder of run `data[id_field]` into `data[path_field]`."""
    if not isinstance(data, dict) or data.get(id_field) is None:
        return data
    folder = run_dir_for(int(data[id_field]))
    return {**data, path_field: str(folder / subdir if subdir else folder)}


def run_config(run_id: int) -> dict:
    """The stored `config.json` of a finished training run, or {} if it has none."""
    path = run_dir_for(run_id) / "config.json"
    try:
        payload = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return payload if isinstance(payload, dict) else {}
