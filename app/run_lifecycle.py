"""Deleting a run: its rows from the store, then its folder under the artifact root.

The one place the Runs page and `taser runs delete` share, so both refuse the same runs (only
archived, finished ones: `store.delete_run`) and both remove the folder only once the rows are gone.
"""

from __future__ import annotations

import shutil
from pathlib import Path


def delete_run(run_id: int, root: Path | None = None, *, url: str | None = None) -> bool:
    """Delete an archived, finished run and its folder; False when there is no such run.

    ValueError (from the store) when the run is not archived or its job may still write to it.
    """
    from app.paths import artifact_root, resolve_under_root, run_dir_for
    from db import store

    deleted = store.delete_run(run_id, url=url)
    root = artifact_root() if root is None else root
    folder = resolve_under_root(run_dir_for(run_id, root).relative_to(root), root)
    shutil.rmtree(folder, ignore_errors=True)  # the rows are gone; a file left behind is only space
    return deleted
