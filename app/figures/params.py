"""A config field against a metric, one marker per run (W&B's and Aim's parameter plots)."""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go

from app.figures.curves import empty_figure


def param_scatter(points: Sequence[dict], field: str, metric: str) -> go.Figure:
    """points: {run, x, y}; a text field gives a categorical x-axis."""
    if not points:
        return empty_figure(f"no run has both {field} and {metric}")
    fig = go.Figure(go.Scatter(x=[p["x"] for p in points], y=[p["y"] for p in points], mode="markers",
                               text=[p["run"] for p in points], marker={"size": 10},
                               hovertemplate="%{text}<br>" + field + " = %{x}<br>" + metric + " = %{y}<extra></extra>"))
    categorical = any(isinstance(p["x"], (str, bool)) for p in points)
    fig.update_xaxes(title_text=field, type="category" if categorical else None)
    fig.update_yaxes(title_text=metric)
    fig.update_layout(height=380, margin={"t": 30})
    return fig
