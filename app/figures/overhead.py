"""Runtime overhead of the TASER penalty: ms per sample with and without it, and the ratio."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import plotly.graph_objects as go
from plotly.subplots import make_subplots


def row_label(row: Mapping) -> str:
    probes = f", K={row['num_probes']}" if row.get("laplacian") == "hutchinson" else ""
    fraction = row.get("fraction", 1.0)
    share = f" · {fraction:g} of batch" if fraction != 1.0 else ""
    return f"{row['method']} · {row['laplacian']}{probes}{share}"


def model_label(row: Mapping) -> str:
    """The benchmarked variant: model, plus its activation and BatchNorm regime when not the default."""
    notes = [row.get("activation", "relu"), f"{row.get('batchnorm', 'train')} BN"]
    notes = [note for note in notes if note not in ("relu", "train BN")]
    return row["model"] + (f" ({', '.join(notes)})" if notes else "")


def overhead_figure(rows: Sequence[Mapping]) -> go.Figure:
    """Per model/device: bars of ms/sample (plain step vs step with TASER) and the ratio."""
    groups = sorted({(model_label(row), row["device"]) for row in rows})
    if not groups:
        from app.figures.curves import empty_figure

        return empty_figure("no overhead rows")
    fig = make_subplots(rows=len(groups), cols=2, horizontal_spacing=0.12,
                        subplot_titles=[title for model, device in groups
                                        for title in (f"{model} on {device}: ms / sample",
                                                      f"{model} on {device}: ratio to plain step")])
    for index, (model, device) in enumerate(groups, start=1):
        mine = [row for row in rows if model_label(row) == model and row["device"] == device]
        labels = [row_label(row) for row in mine]
        fig.add_trace(go.Bar(x=labels, y=[row["plain_ms_per_sample"] for row in mine], name="without TASER",
                             marker_color="#7f7f7f", legendgroup="plain", showlegend=index == 1), row=index, col=1)
        fig.add_trace(go.Bar(x=labels, y=[row["ms_per_sample"] for row in mine], name="with TASER",
                             marker_color="#1f77b4", legendgroup="taser", showlegend=index == 1), row=index, col=1)
        fig.add_trace(go.Bar(x=labels, y=[row["ratio"] for row in mine], name="ratio", marker_color="#ff7f0e",
                             legendgroup="ratio", showlegend=index == 1,
                             text=[f"×{row['ratio']:.2f}" for row in mine], textposition="outside"),
                      row=index, col=2)
        fig.add_hline(y=1.0, line_dash="dot", line_color="black", row=index, col=2)
    fig.update_layout(barmode="group", height=380 * len(groups), title="TASER overhead per training step")
    return fig


SCORE_COLOURS = {"gaussian": "#1f77b4", "diffusion-live": "#d62728", "diffusion-cached": "#2ca02c"}


def train_step_figure(rows: Sequence[Mapping], laplacian: str = "none") -> go.Figure:
    """Per model/device: the whole step's ratio to the same method without TASER, one bar per score
    source (whiskers: min–max over repeats), the paper's Table 3 ratio as a black marker."""
    mine = [row for row in rows if row["score"] != "none" and row["laplacian"] == laplacian]
    groups = sorted({(row["model"], row["device"]) for row in mine})
    if not groups:
        from app.figures.curves import empty_figure

        return empty_figure("no whole-step rows")
    fig = make_subplots(rows=1, cols=len(groups), subplot_titles=[f"{m} on {d}" for m, d in groups])
    for col, (model, device) in enumerate(groups, start=1):
        here = [row for row in mine if row["model"] == model and row["device"] == device]
        methods = list(dict.fromkeys(row["method"] for row in here))
        for score, colour in SCORE_COLOURS.items():
            bars = {row["method"]: row for row in here if row["score"] == score}
            if not bars:
                continue
            ys = [bars[m]["ratio"] if m in bars else None for m in methods]
            fig.add_trace(go.Bar(
                x=methods, y=ys, name=score, marker_color=colour, legendgroup=score, showlegend=col == 1,
                error_y={"type": "data", "symmetric": False,
                         "array": [bars[m]["ratio_max"] - bars[m]["ratio"] if m in bars else 0 for m in methods],
                         "arrayminus": [bars[m]["ratio"] - bars[m]["ratio_min"] if m in bars else 0 for m in methods]}),
                row=1, col=col)
        paper = [next((r["paper_ratio"] for r in here if r["method"] == m), None) for m in methods]
        fig.add_trace(go.Scatter(x=methods, y=paper, mode="markers", name="paper (Table 3)", legendgroup="paper",
                                 marker={"symbol": "line-ew-open", "size": 28, "color": "black",
                                         "line": {"width": 3}}, showlegend=col == 1), row=1, col=col)
        fig.update_yaxes(title_text="× the step without TASER" if col == 1 else None, rangemode="tozero",
                         row=1, col=col)
    fig.update_layout(barmode="group", height=420, margin={"t": 60},
                      legend={"orientation": "h", "y": -0.15})
    return fig
