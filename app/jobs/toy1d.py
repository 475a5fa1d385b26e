"""`toy1d` job: the 1D extrapolation study (paper section 5.1, Table 1) run by the worker.

The engine does the work (`taser_engine.experiments.toy1d.run_study`); this module only adapts
it to the queue: the full result is written to `study.json` in the run folder, and the run's
summary keeps what the dashboard draws (settings, the Table 1 rows, and the seed-averaged
prediction curve of each (regulariser, λ) cell, which is far smaller than every seed's curve).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from app.jobs._result import JobResult
from taser_engine.experiments.toy1d import Toy1DConfig as Config  # noqa: F401 (the kind's config)
from taser_engine.experiments.toy1d import run_study

RESULT_FILE = "study.json"


class Result(JobResult):
    """Settings, the Table 1 rows, and the seed-averaged prediction curve of each cell."""

    settings: dict[str, Any] | None = None
    rows: list[dict[str, Any]] = []
    curves: dict[str, Any] | None = None
    wall_s: float | None = None


def run(config, ctx) -> dict:
    result = run_study(config, ctx)
    Path(ctx.run_dir, RESULT_FILE).write_text(json.dumps(result))
    return compact_result(result)


def compact_result(result: dict) -> dict:
    """The study without per-seed curves: mean prediction per cell instead (what the figure shows)."""
    summary = {key: value for key, value in result.items() if key != "curves"}
    curves = result.get("curves")
    if curves:
        summary["curves"] = {
            "x": curves["x"], "truth": curves["truth"], "density": curves.get("density"),
            "predictions": [
                {"regulariser": cell["regulariser"], "lambda": cell["lambda"],
                 "mean": _mean_curve(cell.get("per_seed") or [cell.get("mean", [])])}
                for cell in curves.get("predictions", [])],
        }
    return summary


def _mean_curve(per_seed: list[list[float]]) -> list[float]:
    if not per_seed:
        return []
    return [sum(values) / len(values) for values in zip(*per_seed)]
