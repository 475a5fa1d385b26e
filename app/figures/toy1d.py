"""Figure 2 of the paper, redrawn from a 1D study: predictions over the wide grid per λ, one
panel per regulariser, the true function dashed and the training density shaded."""

from __future__ import annotations

import plotly.graph_objects as go
from plotly.colors import sample_colorscale
from plotly.subplots import make_subplots

REGULARISER_TITLES = {"l2": "ℓ2 weight decay", "stein": "TASER (Stein)"}
DENSITY_HEIGHT = 0.25  # fraction of the y-range the shaded training density occupies


def y_range(truth: list[float]) -> tuple[float, float]:
    """Fixed y-limits around the true function so that diverging curves do not squash the plot."""
    lo, hi = min(truth), max(truth)
    pad = 0.75 * (hi - lo) + 1.0
    return lo - pad, hi + pad


def lambda_colours(lambdas: list[float]) -> dict[float, str]:
    ordered = sorted(set(lambdas))
    if len(ordered) == 1:
        return {ordered[0]: sample_colorscale("Viridis", [0.4])[0]}
    return {lam: c for lam, c in zip(ordered, sample_colorscale("Viridis", [0.9 * i / (len(ordered) - 1) for i in range(len(ordered))]))}


def _density_trace(x: list[float], density: list[float], yr: tuple[float, float], show_legend: bool) -> go.Scatter:
    peak = max(density) or 1.0
    y = [yr[0] + DENSITY_HEIGHT * (yr[1] - yr[0]) * d / peak for d in density]
    return go.Scatter(x=x, y=y, fill="toself", mode="none", fillcolor="rgba(120,120,120,0.25)",
                      name="training density (scaled)", legendgroup="density", showlegend=show_legend,
                      hoverinfo="skip")


def _truth_trace(x: list[float], truth: list[float], show_legend: bool) -> go.Scatter:
    return go.Scatter(x=x, y=truth, mode="lines", line=dict(color="black", dash="dash", width=2),
                      name="true function", legendgroup="truth", showlegend=show_legend)


def _closed_density(x: list[float], density: list[float]) -> tuple[list[float], list[float]]:
    # Close the polygon along the baseline so 'toself' fills down to the bottom of the plot.
    return x + x[::-1], density + [0.0] * len(density)


def curves_figure(x: list[float], truth: list[float], density: list[float],
                  panels: dict[str, list[tuple[float, list[float]]]], title: str = "") -> go.Figure:
    """`panels`: regulariser -> [(λ, predictions on x)], one subplot per regulariser."""
    names = list(panels)
    fig = make_subplots(rows=1, cols=len(names), shared_yaxes=True, horizontal_spacing=0.04,
                        subplot_titles=[REGULARISER_TITLES.get(n, n) for n in names])
    yr = y_range(truth)
    colours = lambda_colours([lam for curves in panels.values() for lam, _ in curves])
    xd, dd = _closed_density(x, density)
    for col, name in enumerate(names, start=1):
        fig.add_trace(_density_trace(xd, dd, yr, col == 1), row=1, col=col)
        for lam, prediction in panels[name]:
            fig.add_trace(go.Scatter(x=x, y=prediction, mode="lines", line=dict(color=colours[lam], width=2),
                                     name=f"λ = {lam:g}", legendgroup=f"lam{lam:g}",
                                     showlegend=(col == 1 or lam not in {l for l, _ in panels[names[0]]})),
                          row=1, col=col)
        fig.add_trace(_truth_trace(x, truth, col == 1), row=1, col=col)
        fig.update_xaxes(title_text="x", row=1, col=col)
    fig.update_yaxes(range=list(yr), title_text="f(x)", row=1, col=1)
    fig.update_layout(title=title, template="plotly_white", legend=dict(orientation="v"),
                      margin=dict(l=60, r=20, t=70, b=50))
    return fig


def study_figure(study: dict, seed_index: int = 0) -> go.Figure:
    """Figure-2-like plot of a `run_study` result, curves of the seed at `seed_index`."""
    curves, settings = study["curves"], study["settings"]
    panels: dict[str, list[tuple[float, list[float]]]] = {}
    for entry in curves["predictions"]:
        per_seed = entry["per_seed"]
        panels.setdefault(entry["regulariser"], []).append((entry["lambda"], per_seed[min(seed_index, len(per_seed) - 1)]))
    seed = settings["seed_list"][min(seed_index, len(settings["seed_list"]) - 1)]
    title = (f"1D extrapolation: target {settings['target']}, inputs {settings['input_distribution']}, "
             f"{settings['activation']} MLP, seed {seed}")
    return curves_figure(curves["x"], curves["truth"], curves["density"], panels, title)


def single_figure(results: list, title: str = "") -> go.Figure:
    """Curves of `train_single` results (objects or dicts with the same fields), grouped by regulariser."""
    as_dict = [r if isinstance(r, dict) else vars(r) for r in results]
    panels: dict[str, list[tuple[float, list[float]]]] = {}
    for r in as_dict:
        panels.setdefault(r["regulariser"], []).append((r["lam"], r["prediction"]))
    first = as_dict[0]
    return curves_figure(first["grid"], first["truth"], first["density"], panels, title)
