"""The 1D extrapolation study (paper Table 1, Figure 2): predictions over the wide grid and the
ID / OOD error against λ, for L2 and the Stein penalty, beside the paper's numbers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from app.figures import LAMBDA_ZERO_PLOT

REGULARISER_COLOURS = {"l2": "#d62728", "stein": "#1f77b4"}


def predictions_figure(curves: Mapping, *, title: str = "Predictions over the wide grid") -> go.Figure:
    """Figure 2: the true function, one prediction curve per (regulariser, λ), training density shaded.

    `curves` is {"x", "truth", "density", "predictions": [{"regulariser", "lambda", "mean"}]}.
    """
    x = list(curves["x"])
    fig = go.Figure()
    density = curves.get("density")
    if density:
        peak = max(density) or 1.0
        truth = curves["truth"]
        span = (max(truth) - min(truth)) or 1.0
        base = min(truth) - 0.1 * span
        # a band from a baseline under the curves up to the scaled density (not down to y = 0)
        fig.add_trace(go.Scatter(x=x, y=[base] * len(x), mode="lines", line={"width": 0},
                                 showlegend=False, hoverinfo="skip"))
        fig.add_trace(go.Scatter(x=x, y=[base + 0.5 * span * d / peak for d in density], fill="tonexty",
                                 mode="none", name="training density (scaled)",
                                 fillcolor="rgba(120,120,120,0.25)"))
    fig.add_trace(go.Scatter(x=x, y=list(curves["truth"]), mode="lines", name="true function",
                             line={"color": "black", "width": 3, "dash": "dot"}))
    cells = sorted(curves.get("predictions", []), key=lambda c: (c["regulariser"], c["lambda"]))
    for regulariser in ("l2", "stein"):
        mine = [cell for cell in cells if cell["regulariser"] == regulariser]
        for rank, cell in enumerate(mine):
            fig.add_trace(go.Scatter(
                x=x, y=list(cell.get("mean") or cell.get("prediction") or []), mode="lines",
                name=f"{regulariser.upper() if regulariser == 'l2' else 'Stein'} λ={cell['lambda']:g}",
                line={"color": REGULARISER_COLOURS.get(regulariser, "#555"), "width": 1.5,
                      "dash": "solid" if regulariser == "stein" else "dash"},
                opacity=0.35 + 0.65 * (rank + 1) / max(len(mine), 1)))
    lo, hi = min(curves["truth"]), max(curves["truth"])
    pad = 0.75 * ((hi - lo) or 1.0)
    fig.update_yaxes(range=[lo - pad, hi + pad], title_text="f(x)")
    fig.update_xaxes(title_text="x")
    fig.update_layout(title=title, height=480, legend={"font": {"size": 10}})
    return fig


def error_vs_lambda(rows: Sequence[Mapping], paper_rows: Sequence[Mapping] | None = None) -> go.Figure:
    """Table 1 as two panels (ID MSE, OOD MSE) against λ, mean ± std over seeds; paper as markers."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=("in-distribution MSE", "out-of-distribution MSE"))
    for col, split in ((1, "id"), (2, "ood")):
        for regulariser in ("l2", "stein"):
            mine = sorted((row for row in rows if row["regulariser"] == regulariser), key=lambda r: r["lambda"])
            if not mine:
                continue
            fig.add_trace(go.Scatter(
                x=[_plot_lambda(row["lambda"]) for row in mine], y=[row[f"{split}_mse_mean"] for row in mine],
                error_y={"type": "data", "array": [row.get(f"{split}_mse_std") or 0.0 for row in mine]},
                mode="lines+markers", name=f"ours {_label(regulariser)}", legendgroup=f"ours-{regulariser}",
                showlegend=col == 1, line={"color": REGULARISER_COLOURS[regulariser]}), row=1, col=col)
            if paper_rows:
                points = [(row["lambda"], row.get(f"{regulariser}_{split}")) for row in paper_rows]
                points = [(lam, value) for lam, value in points if value is not None]
                fig.add_trace(go.Scatter(
                    x=[_plot_lambda(lam) for lam, _ in points], y=[value for _, value in points],
                    mode="markers", marker={"symbol": "x", "size": 10, "color": REGULARISER_COLOURS[regulariser]},
                    name=f"paper {_label(regulariser)}", legendgroup=f"paper-{regulariser}",
                    showlegend=col == 1), row=1, col=col)
    fig.update_xaxes(type="log", title_text=f"λ (λ=0 drawn at {LAMBDA_ZERO_PLOT:g})")
    fig.update_yaxes(type="log")
    fig.update_layout(height=420, title="Table 1: error against λ")
    return fig


def single_fit_figure(result: Mapping) -> go.Figure:
    """One freshly trained configuration (the sliders): truth, prediction, training points."""
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=result["grid"], y=result["truth"], mode="lines", name="true function",
                             line={"color": "black", "dash": "dot", "width": 3}))
    fig.add_trace(go.Scatter(x=result["grid"], y=result["prediction"], mode="lines",
                             name=f"{_label(result['regulariser'])} λ={result['lam']:g}",
                             line={"color": REGULARISER_COLOURS.get(result["regulariser"], "#555"), "width": 2.5}))
    x_train = list(result.get("x_train") or [])
    truth_at = _interpolate(result["grid"], result["truth"], x_train)
    fig.add_trace(go.Scatter(x=x_train, y=truth_at, mode="markers", name="training inputs",
                             marker={"size": 4, "color": "rgba(90,90,90,0.5)"}))
    lo, hi = min(result["truth"]), max(result["truth"])
    pad = 0.75 * ((hi - lo) or 1.0)
    fig.update_yaxes(range=[lo - pad, hi + pad])
    fig.update_layout(height=420, title=f"ID MSE {result['id_mse']:.3g} · OOD MSE {result['ood_mse']:.3g}")
    return fig


def _interpolate(xs: Sequence[float], ys: Sequence[float], at: Sequence[float]) -> list[float]:
    import numpy as np

    return np.interp(np.asarray(at, dtype=float), np.asarray(xs, dtype=float), np.asarray(ys, dtype=float)).tolist()


def _plot_lambda(lam: float) -> float:
    return lam if lam > 0 else LAMBDA_ZERO_PLOT


def _label(regulariser: str) -> str:
    return "L2" if regulariser == "l2" else "Stein"
