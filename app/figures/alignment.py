"""Score field and input-gradient alignment: the 2D vector fields before/after TASER, and the
distribution of cosine(s, ∇f) and |sᵀ∇f| over samples for chosen runs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots


def _arrows(x: np.ndarray, y: np.ndarray, u: np.ndarray, v: np.ndarray, scale: float) -> tuple[list, list]:
    """Line segments (with a small head) for a quiver plot, separated by None."""
    norm = np.sqrt(u**2 + v**2)
    top = np.quantile(norm, 0.95) or 1.0
    u, v = u / top * scale, v / top * scale
    xs, ys = [], []
    for x0, y0, du, dv in zip(x, y, u, v):
        x1, y1 = x0 + du, y0 + dv
        # head: two short strokes at ±25° from the reversed direction
        back = np.array([-du, -dv]) * 0.3
        for angle in (0.44, -0.44):
            c, s = np.cos(angle), np.sin(angle)
            hx, hy = c * back[0] - s * back[1], s * back[0] + c * back[1]
            xs += [x0, x1, x1 + hx, None] if angle > 0 else [x1, x1 + hx, None]
            ys += [y0, y1, y1 + hy, None] if angle > 0 else [y1, y1 + hy, None]
    return xs, ys


def score_field_figure(field: Mapping) -> go.Figure:
    """Side by side: score s(x) (grey) and the probe gradient ∇f (colour) without / with TASER.

    `field` is {"grid_x", "grid_y", "score": [[u, v]...], "panels": [{"title", "grad": [[u, v]...],
    "cosine_mean"}], "points": {"x", "y", "label"}} with grid points flattened row-major.
    """
    panels = field["panels"]
    fig = make_subplots(rows=1, cols=len(panels), subplot_titles=[
        f"{panel['title']} · mean cos(s, ∇f) = {panel.get('cosine_mean', float('nan')):.2f}" for panel in panels])
    gx, gy = np.asarray(field["grid_x"], float), np.asarray(field["grid_y"], float)
    spacing = float(np.min(np.diff(np.unique(gx)))) if np.unique(gx).size > 1 else 1.0
    score = np.asarray(field["score"], float)
    for col, panel in enumerate(panels, start=1):
        points = field.get("points")
        if points:
            fig.add_trace(go.Scatter(x=points["x"], y=points["y"], mode="markers",
                                     marker={"size": 4, "color": points["label"], "colorscale": "Portland",
                                             "opacity": 0.35}, name="data", showlegend=col == 1), row=1, col=col)
        xs, ys = _arrows(gx, gy, score[:, 0], score[:, 1], 0.8 * spacing)
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", line={"color": "rgba(80,80,80,0.6)", "width": 1},
                                 name="score s(x)", legendgroup="score", showlegend=col == 1), row=1, col=col)
        grad = np.asarray(panel["grad"], float)
        xs, ys = _arrows(gx, gy, grad[:, 0], grad[:, 1], 0.8 * spacing)
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", line={"color": "#d62728", "width": 1.5},
                                 name="∇f (margin probe)", legendgroup="grad", showlegend=col == 1), row=1, col=col)
    fig.update_layout(height=480, title="Score field and the classifier's input gradient")
    fig.update_xaxes(scaleanchor="y")
    return fig


def alignment_histograms(samples_by_run: Mapping[str, Mapping[str, Sequence[float]]]) -> go.Figure:
    """Overlaid histograms of cosine(s, ∇f) and |sᵀ∇f| per run (label -> {"cosine", "abs_directional"})."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=("cosine(s, ∇f)", "|sᵀ∇f| (log10)"))
    for label, samples in samples_by_run.items():
        fig.add_trace(go.Histogram(x=list(samples.get("cosine", [])), name=str(label), legendgroup=str(label),
                                   opacity=0.6, nbinsx=40), row=1, col=1)
        directional = np.log10(np.clip(np.asarray(samples.get("abs_directional", []), float), 1e-12, None))
        fig.add_trace(go.Histogram(x=directional.tolist(), name=str(label), legendgroup=str(label),
                                   showlegend=False, opacity=0.6, nbinsx=40), row=1, col=2)
    fig.update_layout(barmode="overlay", height=380)
    return fig


def image_maps_figure(images: Sequence[Mapping]) -> go.Figure:
    """Rows of (image, score map, gradient map) heatmaps; each entry {"title", "image", "score", "grad"}
    as 2D arrays (channels already reduced)."""
    rows = max(len(images), 1)
    fig = make_subplots(rows=rows, cols=3, subplot_titles=[
        t for item in images for t in (item["title"], "score s(x)", "gradient ∇f")])
    for row, item in enumerate(images, start=1):
        for col, key, scale in ((1, "image", "gray"), (2, "score", "RdBu"), (3, "grad", "RdBu")):
            fig.add_trace(go.Heatmap(z=np.asarray(item[key], float)[::-1].tolist(), colorscale=scale,
                                     showscale=False), row=row, col=col)
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False, scaleanchor="x")
    fig.update_layout(height=220 * rows + 60)
    return fig
