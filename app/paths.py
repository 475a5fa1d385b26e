"""Where artifacts live: the artifact root, each run's folder, and safe resolution inside them.

Light on purpose (no SQL, no torch): job processes and pages import it. Everything the UI reads
is addressed by run or artifact id and resolved here under the artifact root; a path that would
escape the root (`../`, an absolute path, a symlink pointing out) is refused.
"""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_ARTIFACT_ROOT = "var/artifacts"


class UnsafePathError(ValueError):
    """A relative artifact path that resolves outside the artifact root."""


def artifact_root() -> Path:
    return Path(os.environ.get("TASER_ARTIFACT_ROOT") or DEFAULT_ARTIFACT_ROOT).resolve()


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
