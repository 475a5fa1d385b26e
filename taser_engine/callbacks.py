"""How long-running engine work reports to whoever drives it (CLI, background worker, tests).

Engine functions take a `Callbacks` object and call its hooks; the base class does nothing, so a
driver overrides only what it needs. `should_stop` is polled between steps: returning True makes
the work save a resumable checkpoint and return early (cancellation).
"""

from __future__ import annotations

from pathlib import Path


class Callbacks:
    """No-op hooks; subclass and override."""

    def on_progress(self, step: int, total: int, message: str = "") -> None:
        """`step` of `total` units done (training: optimiser steps)."""

    def on_metrics(self, step: int, metrics: dict[str, float], scope: str = "step") -> None:
        """Scalar metrics at `step`; `scope` is "step" (per batch) or "epoch" (per epoch summary)."""

    def on_checkpoint(self, path: Path, step: int) -> None:
        """A resumable checkpoint (or a final model) was written at `path`."""

    def should_stop(self) -> bool:
        """Polled between steps; True asks the work to checkpoint and return early."""
        return False


class RecordingCallbacks(Callbacks):
    """Keeps everything it is told in lists; for tests, notebooks and the CLI's summaries."""

    def __init__(self, stop_after_steps: int | None = None):
        self.progress: list[tuple[int, int, str]] = []
        self.metrics: list[tuple[int, str, dict[str, float]]] = []
        self.checkpoints: list[tuple[Path, int]] = []
        self.stop_after_steps = stop_after_steps

    def on_progress(self, step: int, total: int, message: str = "") -> None:
        self.progress.append((step, total, message))

    def on_metrics(self, step: int, metrics: dict[str, float], scope: str = "step") -> None:
        self.metrics.append((step, scope, dict(metrics)))

    def on_checkpoint(self, path: Path, step: int) -> None:
        self.checkpoints.append((Path(path), step))

    def should_stop(self) -> bool:
        done = self.progress[-1][0] if self.progress else 0
        return self.stop_after_steps is not None and done >= self.stop_after_steps
