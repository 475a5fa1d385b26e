"""Callbacks through which long engine work reports progress and can be stopped.

The engine never prints or writes to a database itself: the CLI and the background worker each
pass a `Callbacks` object and decide what to do with the events. The base class does nothing,
so engine functions default to `Callbacks()`.
"""

from __future__ import annotations

from typing import Mapping


class Callbacks:
    """No-op base; override what you need."""

    def on_progress(self, done: int, total: int, message: str = "") -> None:
        """`done` of `total` units of work (steps, batches) are finished."""

    def on_metrics(self, step: int, metrics: Mapping[str, float]) -> None:
        """Scalar metrics measured at `step`."""

    def on_checkpoint(self, path: str, step: int) -> None:
        """A resumable checkpoint was written at `path` after `step`."""

    def should_stop(self) -> bool:
        """Polled between units of work; True asks the engine to save and return early."""
        return False
