"""Runtime overhead of the TASER penalty: ms per sample with and without it, and the ratio."""

from __future__ import annotations

import itertools
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


def _spread(rows: Sequence[Mapping], field: str) -> dict | None:
    """Min–max whiskers around each row's median `field`, for rows that stored the spread."""
    if not all(f"{field}_min" in row and f"{field}_max" in row for row in rows):
        return None  # measured before per-repeat spreads were stored
    return {"type": "data", "symmetric": False, "array": [row[f"{field}_max"] - row[field] for row in rows],
            "arrayminus": [row[field] - row[f"{field}_min"] for row in rows]}


def overhead_figure(rows: Sequence[Mapping]) -> go.Figure:
    """Per model/device: bars of ms/sample (plain step vs step with TASER) and the ratio, medians
    over repeats with min–max whiskers. Bars are horizontal so the long case labels read in full;
    a case whose timing cannot be right (`app.results.timing_warnings`) is labelled so, its ratio
    bar hatched."""
    from app.results import timing_warnings

    groups = sorted({(model_label(row), row["device"]) for row in rows})
    if not groups:
        from app.figures.curves import empty_figure

        return empty_figure("no overhead rows")
    warnings = dict(zip(map(id, rows), timing_warnings(rows)))
    heights = [len([row for row in rows if (model_label(row), row["device"]) == group]) for group in groups]
    fig = make_subplots(rows=len(groups), cols=2, horizontal_spacing=0.06, shared_yaxes=True,
                        vertical_spacing=min(0.3 / len(groups), 0.12), row_heights=heights,
                        subplot_titles=[title for model, device in groups
                                        for title in (f"{model} on {device}: ms / sample",
                                                      f"{model} on {device}: ratio to plain step")])
    for index, (model, device) in enumerate(groups, start=1):
        mine = [row for row in rows if model_label(row) == model and row["device"] == device]
        flagged = [bool(warnings[id(row)]) for row in mine]
        labels = [row_label(row) + (" (implausible)" if flag else "") for row, flag in zip(mine, flagged)]
        ratio_spread = _spread(mine, "ratio")
        fig.add_trace(go.Bar(y=labels, x=[row["plain_ms_per_sample"] for row in mine], name="without TASER",
                             orientation="h", error_x=_spread(mine, "plain_ms_per_sample"),
                             marker_color="#7f7f7f", legendgroup="plain", showlegend=index == 1), row=index, col=1)
        fig.add_trace(go.Bar(y=labels, x=[row["ms_per_sample"] for row in mine], name="with TASER",
                             orientation="h", error_x=_spread(mine, "ms_per_sample"),
                             marker_color="#1f77b4", legendgroup="taser", showlegend=index == 1), row=index, col=1)
        fig.add_trace(go.Bar(y=labels, x=[row["ratio"] for row in mine], name="ratio", marker_color="#ff7f0e",
                             orientation="h", error_x=ratio_spread, legendgroup="ratio", showlegend=index == 1,
                             marker_pattern_shape=["x" if flag else "" for flag in flagged],
                             # values beside the bars only where no whisker runs through them
                             text=None if ratio_spread else [f"×{row['ratio']:.2f}" for row in mine],
                             textposition="outside", cliponaxis=False,
                             hovertext=[warnings[id(row)] or None for row in mine]),
                      row=index, col=2)
        fig.add_vline(x=1.0, line_dash="dot", line_color="black", row=index, col=2)
        # ratios span ×1 to ×100 (the exact Laplacian) and noisy repeats stretch their whiskers further
        fig.update_xaxes(type="log", row=index, col=2)
        fig.update_yaxes(autorange="reversed", row=index, col=1)  # the rows in the table's order
    fig.update_layout(barmode="group", height=160 + sum(70 + 34 * n for n in heights),
                      title="TASER overhead per training step (median over repeats, whiskers min–max)",
                      legend={"orientation": "h", "yref": "container", "y": 1, "yanchor": "top", "x": 1,
                              "xanchor": "right"},
                      margin={"l": 10, "t": 110})
    return fig


LAPLACIAN_NAMES = {"none": "first-order", "hutchinson": "Hutchinson K=1", "exact": "exact Laplacian"}
SCORE_COLOURS = {"gaussian": "#1f77b4", "diffusion-live": "#d62728", "diffusion-cached": "#2ca02c"}


def train_step_figure(rows: Sequence[Mapping], laplacian: str = "none") -> go.Figure:
    """Per model/device: the whole step's ratio to the same method without TASER, one bar per score
    source (whiskers: min–max over repeats, hatched where the timing cannot be right), the paper's
    Table 3 ratio as a black marker."""
    from app.results import WHOLE_STEP_CASE, penalty_batchnorm, timing_warnings

    warnings = dict(zip(map(id, rows), timing_warnings(rows, WHOLE_STEP_CASE)))
    mine = [row for row in rows if row["score"] != "none" and row["laplacian"] == laplacian]
    groups = sorted({(row["model"], row["device"]) for row in mine})
    if not groups:
        from app.figures.curves import empty_figure

        return empty_figure("no whole-step rows")
    fig = make_subplots(rows=1, cols=len(groups), subplot_titles=[f"{m} on {d}" for m, d in groups])
    for col, (model, device) in enumerate(groups, start=1):
        here = [row for row in mine if row["model"] == model and row["device"] == device]
        methods = list(dict.fromkeys(row["method"] for row in here))
        for (score, colour), batchnorm in itertools.product(SCORE_COLOURS.items(), ("running", "batch")):
            bars = {row["method"]: row for row in here
                    if row["score"] == score and penalty_batchnorm(row) == batchnorm}
            if not bars:
                continue
            name = score if batchnorm == "running" else f"{score}, penalty on batch BN statistics"
            ys = [bars[m]["ratio"] if m in bars else None for m in methods]
            fig.add_trace(go.Bar(
                x=methods, y=ys, name=name, marker_color=colour, legendgroup=name, showlegend=col == 1,
                marker_opacity=1.0 if batchnorm == "running" else 0.55,
                marker_pattern_shape=["x" if m in bars and warnings[id(bars[m])] else "" for m in methods],
                hovertext=[warnings[id(bars[m])] or None if m in bars else None for m in methods],
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
