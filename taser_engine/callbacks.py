"""Progress reporting for long engine work: one small protocol the CLI and the worker both drive.

Engine functions take `callbacks: Callbacks | None`; `None` means the no-op `Callbacks()`.
The engine calls `on_progress` and `on_metrics` as it goes, `on_checkpoint` after saving, and
polls `should_stop` between steps so a cancelled job ends cleanly at the next step boundary.
"""

from __future__ import annotations

from typing import Any


class Callbacks:
    """No-op base: override what you need."""

    def on_progress(self, done: int, total: int, message: str = "") -> None:
        """`done` of `total` units of work finished."""

    def on_metrics(self, step: int, metrics: dict[str, Any]) -> None:
        """Scalar metrics (name -> number) at a training step."""

    def on_checkpoint(self, path: str, step: int) -> None:
        """A checkpoint was written to `path` at `step`."""

    def should_stop(self) -> bool:
        """True when the caller wants the work to stop at the next step boundary."""
        return False


def or_default(callbacks: Callbacks | None) -> Callbacks:
    return callbacks if callbacks is not None else Callbacks()
