"""A study's figures: the grid of cells by state, accuracy against a swept field with seed bands,
and the penalty's scale against the base loss over training."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go

# one colour per state, the same everywhere (the grid's legend says which is which)
STATE_COLOURS = {"not queued": "#d0d0d0", "queued": "#9ecae1", "running": "#3182bd", "succeeded": "#31a354",
                 "failed": "#de2d26", "cancelled": "#969696"}
STATE_ORDER = list(STATE_COLOURS)


def cell_grid(rows: Sequence[Mapping[str, Any]]) -> go.Figure:
    """Rows = method × TASER, columns = seed × swept point; colour = the evaluation's state.

    `rows` are cell rows (`app.studies.tables.cell_row`): method, taser, seed, swept fields, status.
    """
    def row_label(r):
        return f"{r['method']}{' + TASER' if r['taser'] else ''}"

    def column_label(r):
        rest = ", ".join(f"{k}={v}" for k, v in r.items()
                         if k not in ("method", "taser", "seed", "status", "run_id", "clean", "autoattack",
                                      "spsa", "robust_avg", "error", "archived"))
        return f"seed {r['seed']}" + (f" · {rest}" if rest else "")

    y = list(dict.fromkeys(row_label(r) for r in rows))
    x = list(dict.fromkeys(column_label(r) for r in rows))
    z = np.full((len(y), len(x)), np.nan)
    text = [["" for _ in x] for _ in y]
    for r in rows:
        i, j = y.index(row_label(r)), x.index(column_label(r))
        z[i, j] = STATE_ORDER.index(r["status"]) if r["status"] in STATE_ORDER else np.nan
        accuracy = r.get("robust_avg")
        text[i][j] = f"{r['status']}" + (f"<br>robust avg. {100 * accuracy:.1f}%" if accuracy is not None else "") \
            + (f"<br>run {r['run_id']}" if r.get("run_id") else "") \
            + ("<br>archived: left out of the tables" if r.get("archived") else "")
    n = len(STATE_ORDER)
    # a discrete colour scale: state k fills [k/n, (k+1)/n]
    scale = [[edge, colour] for k, colour in enumerate(STATE_COLOURS.values()) for edge in (k / n, (k + 1) / n)]
    fig = go.Figure(go.Heatmap(z=z, x=x, y=y, zmin=-0.5, zmax=n - 0.5, colorscale=scale, text=text,
                               hovertemplate="%{y} · %{x}<br>%{text}<extra></extra>", xgap=2, ygap=2,
                               colorbar={"tickvals": list(range(n)), "ticktext": STATE_ORDER, "title": "state"}))
    fig.update_layout(height=max(260, 40 * len(y) + 140), title="Evaluations by state",
                      margin={"l": 140, "r": 20, "t": 50, "b": 60})
    return fig


def accuracy_against(rows: Sequence[Mapping[str, Any]], field: str, metric: str = "robust_avg") -> go.Figure:
    """Mean over seeds of `metric` against a swept field, one line per method with TASER, a band
    of ± one sd over seeds; the same method without TASER as a dashed line (it does not depend on
    a TASER-only field)."""
    fig = go.Figure()
    done = [r for r in rows if r.get(metric) is not None]
    for method in dict.fromkeys(r["method"] for r in done):
        with_ = [r for r in done if r["method"] == method and r["taser"] and field in r]
        values = sorted({r[field] for r in with_}, key=lambda v: (v is None, v))
        if values:
            groups = [[r[metric] for r in with_ if r[field] == v] for v in values]
            mean = np.array([100 * np.mean(g) for g in groups])
            sd = np.array([100 * np.std(g, ddof=1) if len(g) > 1 else 0.0 for g in groups])
            x = [str(v) if v is None else v for v in values]
            fig.add_trace(go.Scatter(x=x + x[::-1], y=list(mean + sd) + list((mean - sd)[::-1]), fill="toself",
                                     opacity=0.2, line={"width": 0}, showlegend=False, hoverinfo="skip",
                                     legendgroup=method))
            fig.add_trace(go.Scatter(x=x, y=mean, mode="lines+markers", name=f"{method} + TASER",
                                     legendgroup=method))
        without = [100 * r[metric] for r in done if r["method"] == method and not r["taser"]]
        if without and values:
            fig.add_trace(go.Scatter(x=[x[0], x[-1]], y=[np.mean(without)] * 2, mode="lines",
                                     line={"dash": "dash"}, name=f"{method} (no TASER)", legendgroup=method))
    fig.update_layout(title=f"{metric.replace('_', ' ')} against {field} (mean ± sd over seeds)", height=420,
                      legend={"orientation": "h", "y": -0.25})
    fig.update_xaxes(title_text=field, type="log" if _all_positive_numbers(done, field) else None)
    fig.update_yaxes(title_text="accuracy (%)")
    return fig


def _all_positive_numbers(rows, field) -> bool:
    values = [r.get(field) for r in rows if field in r]
    return bool(values) and all(isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0 for v in values) \
        and max(values) / min(values) >= 10


def penalty_scale(series: Mapping[str, Mapping[str, Sequence[tuple[int, float]]]]) -> go.Figure:
    """λ·R against the base loss per training step, one pair of lines per run label: where the
    dotted penalty line rises above the solid base-loss line, the penalty dominates the objective."""
    fig = go.Figure()
    for label, by_key in series.items():
        base = dict(by_key.get("loss/base", []))
        taser, lam = dict(by_key.get("loss/taser", [])), dict(by_key.get("lambda", []))
        if base:
            steps = sorted(base)
            fig.add_trace(go.Scatter(x=steps, y=[base[s] for s in steps], mode="lines", name=f"{label}: base loss",
                                     legendgroup=label))
        steps = sorted(s for s in taser if s in lam)
        if steps:
            fig.add_trace(go.Scatter(x=steps, y=[lam[s] * taser[s] for s in steps], mode="lines",
                                     line={"dash": "dot"}, name=f"{label}: λ·R", legendgroup=label))
    fig.update_layout(title="Penalty scale: λ·R against the base loss", height=380,
                      legend={"orientation": "h", "y": -0.3})
    fig.update_xaxes(title_text="step")
    fig.update_yaxes(title_text="loss", type="log")
    return fig
