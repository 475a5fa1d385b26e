"""A study's answer: per-cell accuracies, mean ± sd over seeds, and Tables 2 / 3 per sweep point.

Every evaluation of a study is one cell (method, TASER or not, seed, swept fields). The tables
pair each run with TASER with the run without TASER of the same method and seed that it should be
compared with: the one whose own fields agree with the TASER run's (a λ sweep compares every λ
with the one base model trained for that method and seed; a sweep over epochs compares like with
like). While a study runs, a method enters a table with the seeds finished on both sides, so the
tables fill in as evaluations finish.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.studies.service import CellState, StudyState
from taser_engine.evaluation.tables import LAYOUTS, RunEval, Table, TableError, build_table

AXES = ("method", "taser", "seed")


def point_of(cell: dict[str, Any]) -> dict[str, Any]:
    """The swept fields of a cell (what is left besides method, TASER and seed)."""
    return {k: v for k, v in cell.items() if k not in AXES}


def point_label(point: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in point.items()) or "all cells"


def evaluation_cells(state: StudyState) -> list[CellState]:
    return [c for c in state.cells if c.role == "evaluate"]


def cell_row(cell: CellState) -> dict[str, Any]:
    """One evaluation cell as a flat row: its place in the grid, state and accuracies (fractions)."""
    summary = cell.summary if cell.status == "succeeded" and isinstance(cell.summary, dict) else {}
    robust = summary.get("robust") or {}
    return {**cell.cell, "status": cell.status, "run_id": cell.run_id, "clean": summary.get("clean_acc"),
            "autoattack": robust.get("autoattack"), "spsa": robust.get("spsa"),
            "robust_avg": summary.get("robust_avg"), "error": cell.error, "archived": cell.archived}


def _run_eval(cell: CellState) -> RunEval:
    return RunEval.from_json(cell.summary, f"run {cell.run_id}", seed=cell.cell["seed"])


@dataclass
class PointTable:
    point: dict[str, Any]
    table: Table | None
    problem: str | None = None  # why there is no table yet (nothing paired, or a TableError)

    def to_json(self) -> dict:
        return {"point": self.point, "label": point_label(self.point),
                "table": None if self.table is None else self.table.to_json(), "problem": self.problem}


def _matches(without: dict[str, Any], point: dict[str, Any]) -> bool:
    return all(point.get(k, v) == v for k, v in point_of(without).items())


def point_tables(state: StudyState, layout: str = "table2", **bootstrap) -> list[PointTable]:
    """One table per sweep point of the TASER cells (one table for a study without a sweep)."""
    if layout not in LAYOUTS:
        raise TableError(f"layout must be one of {', '.join(LAYOUTS)}, got {layout!r}")
    cells = evaluation_cells(state)
    # an archived evaluation leaves the tables (as it leaves every other table) but keeps its cell
    done = [c for c in cells if c.status == "succeeded" and isinstance(c.summary, dict) and not c.archived]
    points: list[dict[str, Any]] = []
    for c in cells:
        if c.cell["taser"] and point_of(c.cell) not in points:
            points.append(point_of(c.cell))
    if not points:  # a study of runs without TASER only
        points = [{}]
    tables = []
    for point in points:
        with_ = {(c.cell["method"], c.cell["seed"]): c for c in done if c.cell["taser"] and point_of(c.cell) == point}
        without = {(c.cell["method"], c.cell["seed"]): c for c in done
                   if not c.cell["taser"] and _matches(c.cell, point)}
        paired = set(with_) & set(without)
        methods_paired = {m for m, _ in paired}
        # a method with seeds finished on both sides enters with those seeds only (pairing by seed);
        # one with no pair yet shows one side, its runs without TASER if any
        without_methods = {m for m, _ in without}
        chosen = ([c for k, c in without.items() if k in paired or k[0] not in methods_paired]
                  + [c for k, c in with_.items() if k in paired or k[0] not in without_methods])
        if not chosen:
            tables.append(PointTable(point, None, "no evaluation has finished yet"))
            continue
        try:
            tables.append(PointTable(point, build_table(layout, [_run_eval(c) for c in chosen], **bootstrap)))
        except TableError as exc:
            tables.append(PointTable(point, None, str(exc)))
    return tables


def study_json(state: StudyState, **bootstrap) -> dict:
    """Everything a study answers, JSON-ready: cells, Tables 2 and 3 per point, wall time."""
    study = state.study
    return {
        "study": {"id": study.id, "name": study.name, "preset": study.preset, "spec": study.spec,
                  "status": state.status, "counts": state.counts, "jobs": len(state.cells),
                  "created_at": study.created_at.isoformat(timespec="seconds") + "Z"},
        "wall_s": state.wall_s,
        "cells": [cell_row(c) for c in evaluation_cells(state)],
        "tables": {layout: [t.to_json() for t in point_tables(state, layout, **bootstrap)] for layout in LAYOUTS},
    }
