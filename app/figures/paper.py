"""Paper check: the paper's numbers beside ours for the same settings."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import plotly.graph_objects as go


def paper_vs_ours(rows: Sequence[Mapping], *, title: str, value_label: str) -> go.Figure:
    """Paired bars: rows are {"label", "paper", "ours"} (ours may be None: not run yet)."""
    labels = [row["label"] for row in rows]
    fig = go.Figure()
    fig.add_trace(go.Bar(x=labels, y=[row["paper"] for row in rows], name="paper", marker_color="#bbbbbb"))
    fig.add_trace(go.Bar(x=labels, y=[row["ours"] for row in rows], name="ours", marker_color="#1f77b4"))
    fig.update_layout(barmode="group", title=title, height=380, yaxis_title=value_label)
    return fig
