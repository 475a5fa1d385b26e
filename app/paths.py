"""Where artifacts and inputs live: the artifact root, each run's folder, the data roots.

Light on purpose (no SQL, no torch): job processes and pages import it. Everything the UI reads
is addressed by run or artifact id and resolved here under the artifact root; a path that would
escape the root (`../`, an absolute path, a symlink pointing out) is refused.

A job reads local inputs (a dataset root, a score-model or model folder) only from under the
artifact root or a data root (`TASER_DATA_ROOTS`, os.pathsep-separated, default `~/data`):
`allowed_input_path` resolves symlinks and `..` first, and refuses anything else with one
message whether the path exists or not, so a job config cannot probe the server's files.
"""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_ARTIFACT_ROOT = "var/artifacts"
DATA_ROOTS_ENV = "TASER_DATA_ROOTS"
DEFAULT_DATA_ROOTS = "~/data"


class UnsafePathError(ValueError):
    """A relative artifact path that resolves outside the artifact root."""


def artifact_root() -> Path:
    return Path(os.environ.get("TASER_ARTIFACT_ROOT") or DEFAULT_ARTIFACT_ROOT).resolve()


def data_roots() -> list[Path]:
    """Where job inputs may be read from: the artifact root (runs named by id) and the data roots."""
    entries = (os.environ.get(DATA_ROOTS_ENV) or DEFAULT_DATA_ROOTS).split(os.pathsep)
    return [artifact_root(), *(Path(entry).expanduser().resolve() for entry in entries if entry.strip())]


def allowed_input_path(value: str) -> str:
    """`value` resolved to an absolute path when it lies under a data root; ValueError otherwise.

    The refusal is the same for a path that exists and one that does not.
    """
    roots = data_roots()
    try:
        target = Path(value).expanduser().resolve()
    except (OSError, RuntimeError, ValueError):  # a symlink loop, a NUL byte, an unknown ~user
        target = None
    if target is None or not any(target == root or root in target.parents for root in roots):
        raise ValueError("not under an allowed root: name a run by its id, or give a path under "
                         f"{' or '.join(str(root) for root in roots)} (the artifact root and {DATA_ROOTS_ENV})")
    return str(target)


def run_dir_for(run_id: int, root: Path | None = None) -> Path:
    return (root or artifact_root()) / "runs" / str(int(run_id))


def resolve_under_root(relative: str | Path, root: Path | None = None) -> Path:
    """`root / relative`, refusing anything that lands outside the root."""
    base = (root or artifact_root()).resolve()
    relative = Path(relative)
    if relative.is_absolute():
        raise UnsafePathError(f"artifact paths are relative to the artifact root, got {str(relative)!r}")
    target = (base / relative).resolve()
    if target != base and base not in target.parents:
        raise UnsafePathError(f"{str(relative)!r} resolves outside the artifact root")
    return target
