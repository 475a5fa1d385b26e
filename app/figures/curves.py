"""Metric curves of one or several runs (loss parts, λ(t), LR, Stein residual statistics)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import plotly.graph_objects as go
from plotly.subplots import make_subplots

# Metric families shown together on a run's page, in this order (by key prefix; accuracies by
# substring, e.g. clean_acc); anything else goes in "other".
METRIC_GROUPS: dict[str, tuple[str, ...]] = {
    "loss": ("loss",),
    "schedule": ("lambda", "lr"),
    "stein": ("stein_",),
    "accuracy": ("acc", "accuracy"),
    "system": ("system/",),
}


def group_keys(keys: Sequence[str]) -> dict[str, list[str]]:
    """Split metric keys into the families above (by prefix), keeping each key once."""
    groups: dict[str, list[str]] = {name: [] for name in METRIC_GROUPS}
    groups["other"] = []
    for key in sorted(keys):
        for name, prefixes in METRIC_GROUPS.items():
            if any(key.startswith(prefix) or (name == "accuracy" and prefix in key) for prefix in prefixes):
                groups[name].append(key)
                break
        else:
            groups["other"].append(key)
    return {name: members for name, members in groups.items() if members}


def metric_curves(series_by_run: Mapping[str, Mapping[str, Sequence[tuple[int, float]]]],
                  keys: Sequence[str], *, log_y: bool = False, columns: int = 2,
                  title: str | None = None) -> go.Figure:
    """One panel per metric key, one line per run (label -> {key: [(step, value)]})."""
    keys = list(keys)
    if not keys:
        return empty_figure("no metrics recorded yet")
    rows = math.ceil(len(keys) / columns)
    cols = min(columns, len(keys))
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=keys, shared_xaxes=False,
                        vertical_spacing=min(0.2, 0.9 / max(rows, 1)) if rows > 1 else 0.1)
    palette = _palette()
    for run_index, (label, series) in enumerate(series_by_run.items()):
        colour = palette[run_index % len(palette)]
        for key_index, key in enumerate(keys):
            points = series.get(key) or []
            if not points:
                continue
            steps, values = zip(*points)
            fig.add_trace(go.Scattergl(x=list(steps), y=list(values), mode="lines", name=str(label),
                                       legendgroup=str(label), showlegend=key_index == 0 or len(keys) == 1,
                                       line={"color": colour}),
                          row=key_index // cols + 1, col=key_index % cols + 1)
    if log_y:
        fig.update_yaxes(type="log")
    fig.update_xaxes(title_text="step")
    fig.update_layout(height=max(320, 260 * rows) + 40, title=title, margin={"t": 60, "b": 90},
                      legend={"orientation": "h", "yanchor": "top", "y": -0.12 if rows == 1 else -0.06})
    return fig


def empty_figure(message: str) -> go.Figure:
    fig = go.Figure()
    fig.add_annotation(text=message, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    fig.update_layout(height=240)
    return fig


def _palette() -> list[str]:
    import plotly.express as px

    return list(px.colors.qualitative.Plotly)
