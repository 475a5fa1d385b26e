"""How long-running engine work reports to whoever drives it (CLI, background worker, tests).

Engine functions take a `Callbacks` object and call its hooks; the base class does nothing, so a
driver overrides only what it needs. `should_stop` is the cooperative cancellation check, polled
between steps: returning True makes the work save a resumable checkpoint and stop early.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping


class Callbacks:
    """No-op hooks; subclass and override."""

    def on_progress(self, step: int, total: int, message: str = "") -> None:
        """`step` of `total` units of work done (units are the caller's: steps, batches, cells)."""

    def on_metrics(self, step: int, metrics: Mapping[str, float], scope: str = "step") -> None:
        """Scalar metrics at a global step; `scope` is "step" (per batch) or "epoch" (summary)."""

    def on_checkpoint(self, path: str | Path, step: int) -> None:
        """A resumable checkpoint (or a final artefact) was written atomically at `path`."""

    def should_stop(self) -> bool:
        """True when the work must stop cleanly at the next opportunity."""
        return False


class StopRequested(Exception):
    """Raised inside the engine when `should_stop()` returned True; the driver decides the state."""


def or_default(callbacks: Callbacks | None) -> Callbacks:
    return callbacks if callbacks is not None else Callbacks()


class RecordingCallbacks(Callbacks):
    """Keeps everything it is told in lists; for tests, notebooks and CLI summaries."""

    def __init__(self, stop_after_steps: int | None = None):
        self.progress: list[tuple[int, int, str]] = []
        self.metrics: list[tuple[int, str, dict[str, float]]] = []
        self.checkpoints: list[tuple[Path, int]] = []
        self.stop_after_steps = stop_after_steps

    def on_progress(self, step: int, total: int, message: str = "") -> None:
        self.progress.append((step, total, message))

    def on_metrics(self, step: int, metrics: Mapping[str, float], scope: str = "step") -> None:
        self.metrics.append((step, scope, dict(metrics)))

    def on_checkpoint(self, path: str | Path, step: int) -> None:
        self.checkpoints.append((Path(path), step))

    def should_stop(self) -> bool:
        done = self.progress[-1][0] if self.progress else 0
        return self.stop_after_steps is not None and done >= self.stop_after_steps
