"""Wall time of a training step's phases, without making the host wait for the device.

On the CPU a phase boundary is `time.perf_counter()`. On CUDA kernels run asynchronously, so a
host clock only measures the device after a `synchronize`, which stalls the host's queueing of the
next kernels at every boundary. Here each boundary records a CUDA event in the stream instead; the
events are read (one `synchronize` on the last of them) only when `flush` is called, which the loop
does when it fetches metrics anyway (every `log_every_steps`) and before checkpoints.

A step's record is its boundary marks and a rule that turns the laps between them into
`(step seconds, penalty seconds)`; flushed records accumulate into the run's timing dict
(`base_s`, `penalty_s`, `samples`, `finish_s`), which checkpoints store and `result.json` reports.
"""

from __future__ import annotations

import time
from typing import Callable

import torch

# laps (seconds between consecutive marks) -> seconds of the penalty within the step
PenaltyRule = Callable[[list[float]], float]


class StepTimer:
    def __init__(self, device: torch.device, prefix: str = ""):
        self.cuda = device.type == "cuda"
        self.prefix = prefix  # of the timing keys it adds to (a second timer keeps its own)
        self._marks: list = []
        self._pending: list[tuple[list, PenaltyRule, float]] = []

    def begin(self) -> None:
        self._marks = [self._now()]

    def mark(self) -> None:
        self._marks.append(self._now())

    def end(self, samples: float, penalty: PenaltyRule) -> None:
        """Close the step (its last mark is taken here) and queue it for `flush`."""
        self.mark()
        self._pending.append((self._marks, penalty, samples))
        self._marks = []

    def flush(self, timing: dict[str, float]) -> None:
        """Add the queued steps' base and penalty seconds and samples to `timing`."""
        if not self._pending:
            return
        if self.cuda:
            self._pending[-1][0][-1].synchronize()
        for marks, penalty, samples in self._pending:
            laps = [self._seconds(a, b) for a, b in zip(marks, marks[1:])]
            step_s = sum(laps)
            penalty_s = penalty(laps)
            # finish_s: the last phase alone (the optimiser update, in every stepper)
            for key, value in (("base_s", step_s - penalty_s), ("penalty_s", penalty_s), ("samples", samples),
                               ("finish_s", laps[-1])):
                timing[self.prefix + key] = timing.get(self.prefix + key, 0.0) + value
        self._pending.clear()

    def _now(self):
        if self.cuda:
            event = torch.cuda.Event(enable_timing=True)
            event.record()
            return event
        return time.perf_counter()

    def _seconds(self, start, stop) -> float:
        return start.elapsed_time(stop) / 1000.0 if self.cuda else stop - start


def no_penalty(laps: list[float]) -> float:
    return 0.0


def lap(index: int) -> PenaltyRule:
    """The penalty is the `index`-th lap of the step."""
    return lambda laps: laps[index]
