"""The reporting protocol of long-running engine work: progress, metrics, checkpoints, stop.

Training loops, evaluations and experiments take a `Callbacks` instance and call it between
steps; the CLI prints through one, the background worker forwards to the database through
another. The base class does nothing, so engine code can always call every hook.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path


class Callbacks:
    """No-op base: subclass and override the hooks you need."""

    def on_progress(self, step: int, total: int, message: str = "") -> None:
        """`step` of `total` units of work are done (steps, epochs or samples: the caller's unit)."""

    def on_metrics(self, step: int, metrics: Mapping[str, float]) -> None:
        """Scalar metrics measured at `step`; the same (key, step) may be reported again on resume."""

    def on_checkpoint(self, path: str | Path, step: int) -> None:
        """A resumable checkpoint covering everything up to `step` was written to `path`."""

    def should_stop(self) -> bool:
        """True when the work should stop cleanly at the next step boundary (cooperative cancel)."""
        return False
