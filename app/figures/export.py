"""Writing Plotly figures to disk: self-contained HTML, and PNG through kaleido 0.2.1 offline.

Plotly ≥ 6 only drives kaleido ≥ 1 (which needs a system Chrome); kaleido 0.2.1 bundles its own
Chromium, so PNGs are rendered through its `PlotlyScope` directly, pointed at the plotly.js that
ships inside the plotly package, so nothing is fetched from a CDN.
"""

from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path

import plotly
import plotly.graph_objects as go


def write_html(fig: go.Figure, path: str | Path) -> Path:
    """A standalone HTML file with plotly.js embedded (opens offline)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.write_html(str(path), include_plotlyjs=True, full_html=True)
    return path


@lru_cache(maxsize=1)
def _kaleido_scope():
    from kaleido.scopes.plotly import PlotlyScope

    plotly_js = os.path.join(os.path.dirname(plotly.__file__), "package_data", "plotly.min.js")
    return PlotlyScope(plotlyjs=plotly_js, mathjax=False)


def png_bytes(fig: go.Figure, width: int = 1200, height: int = 500, scale: float = 1.0) -> bytes:
    """`fig` rendered as PNG by the bundled Chromium of kaleido 0.2.1."""
    return _kaleido_scope().transform(json.loads(fig.to_json()), format="png", width=width,
                                      height=height, scale=scale)


def write_png(fig: go.Figure, path: str | Path, width: int = 1200, height: int = 500, scale: float = 1.0) -> Path:
    """Render `fig` to a PNG file (see `png_bytes`)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(png_bytes(fig, width, height, scale))
    return path
