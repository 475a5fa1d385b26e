"""Result viewers: how one run's Result is shown, as plain blocks (tables, figures, text) that
both the HTML report (`app.report`) and the dashboard's Run page render.

A viewer is a function `(result) -> list[Block]` registered for a job kind with
`@register_viewer(kind)`; adding a view of a kind's result is one such function. Viewers build
Plotly figures and rows only: nothing here imports Streamlit, so `taser report` does not load it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from app.jobs import JobResult


@dataclass(frozen=True)
class TableBlock:
    rows: list[dict[str, Any]]
    title: str = ""


@dataclass(frozen=True)
class FigureBlock:
    figure: Any  # a plotly Figure
    title: str = ""


@dataclass(frozen=True)
class TextBlock:
    text: str


Block = TableBlock | FigureBlock | TextBlock
Viewer = Callable[[JobResult], list[Block]]

# job kind -> its viewer; filled by `register_viewer` below.
RESULT_VIEWERS: dict[str, Viewer] = {}


def register_viewer(kind: str) -> Callable[[Viewer], Viewer]:
    def register(viewer: Viewer) -> Viewer:
        RESULT_VIEWERS[kind] = viewer
        return viewer
    return register


def result_blocks(kind: str, result: JobResult) -> list[Block]:
    """The blocks showing `result` of a `kind` run; none for kinds without a viewer."""
    viewer = RESULT_VIEWERS.get(kind)
    return viewer(result) if viewer is not None else []


@register_viewer("toy1d")
def toy1d_blocks(result) -> list[Block]:
    from app.figures.extrapolation import error_vs_lambda, predictions_figure
    from app.table1 import table1_rows
    from taser_engine.experiments.paper_tables import PAPER_TABLE1

    if not result.rows:
        return []
    blocks: list[Block] = []
    if result.curves:
        blocks.append(FigureBlock(predictions_figure(result.curves)))
    blocks.append(FigureBlock(error_vs_lambda(result.rows, PAPER_TABLE1)))
    blocks.append(TableBlock(table1_rows(result.rows), "Table 1 (ours beside the paper)"))
    return blocks


@register_viewer("bench-overhead")
def overhead_blocks(result) -> list[Block]:
    from app.figures.overhead import overhead_figure
    from app.results import overhead_table

    if not result.rows:
        return []
    return [FigureBlock(overhead_figure(result.rows)), TableBlock(overhead_table(result.rows))]


@register_viewer("bench-train-step")
def train_step_blocks(result) -> list[Block]:
    from app.figures.overhead import LAPLACIAN_NAMES, train_step_figure
    from app.results import train_step_table

    if not result.rows:
        return []
    laplacians = sorted({row["laplacian"] for row in result.rows if row["laplacian"]})
    return [*(FigureBlock(train_step_figure(result.rows, laplacian), LAPLACIAN_NAMES.get(laplacian, laplacian))
              for laplacian in laplacians),
            TableBlock(train_step_table(result.rows))]


@register_viewer("alignment")
def alignment_blocks(result) -> list[Block]:
    from app.figures.alignment import alignment_histograms, image_maps_figure

    block = result.alignment
    if block is None:
        return []
    blocks: list[Block] = [FigureBlock(alignment_histograms({"this run": block.model_dump()}))]
    if block.examples:
        blocks.append(FigureBlock(image_maps_figure(block.examples[:4])))
    return blocks

