"""Robustness results: clean and robust accuracy per run with bootstrap error bars."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import plotly.graph_objects as go

from taser_engine.evaluation.bootstrap import bootstrap_interval  # noqa: F401 (app.results takes it from here)


def accuracy_bars(rows: Sequence[Mapping]) -> go.Figure:
    """Grouped bars per run: one bar per accuracy column, error bars from each value's 95% CI.

    `rows` are {"label", "values": {column: fraction}, "ci": {column: (low, high)}} with
    accuracies as fractions in [0, 1]; they are drawn in percent.
    """
    columns: list[str] = []
    for row in rows:
        for column in row["values"]:
            if column not in columns:
                columns.append(column)
    fig = go.Figure()
    labels = [row["label"] for row in rows]
    for column in columns:
        values = [row["values"].get(column) for row in rows]
        plus, minus = [], []
        for row, value in zip(rows, values):
            low, high = (row.get("ci") or {}).get(column) or (value, value)
            plus.append(100 * (high - value) if value is not None and high is not None else 0.0)
            minus.append(100 * (value - low) if value is not None and low is not None else 0.0)
        fig.add_trace(go.Bar(x=labels, y=[None if v is None else 100 * v for v in values], name=column,
                             error_y={"type": "data", "symmetric": False, "array": plus, "arrayminus": minus}))
    fig.update_yaxes(title_text="accuracy (%)", range=[0, 100])
    fig.update_layout(barmode="group", height=420, title="Clean and robust accuracy (95% bootstrap CI)")
    return fig
