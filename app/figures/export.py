"""Writing Plotly figures to disk: self-contained HTML, and PNG through kaleido 0.2.1 offline.

Every export goes through `exportable`: a copy of the figure in the `plotly_white` template with
SVG traces. Importing Streamlit makes its own template Plotly's default, and that template's
colours are placeholders ("#000001", ...) that only Streamlit's frontend replaces, so a figure
built in the dashboard and exported as it is draws every bar black; and a report with many WebGL
traces exhausts the browser's WebGL contexts and draws blank charts.

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


EXPORT_TEMPLATE = "plotly_white"


def exportable(fig: go.Figure) -> go.Figure:
    """A copy of `fig` that draws the same outside Streamlit: explicit template (real colours),
    `scattergl` traces as `scatter` (SVG: no WebGL context per chart). `fig` is left as it is."""
    spec = fig.to_plotly_json()
    spec["data"] = [_as_svg(trace) for trace in spec["data"]]
    copy = go.Figure(spec)
    copy.update_layout(template=EXPORT_TEMPLATE)
    return copy


def _as_svg(trace: dict) -> dict:
    return {**trace, "type": "scatter"} if trace.get("type") == "scattergl" else trace


def figure_html(fig: go.Figure, *, full_html: bool = True, include_plotlyjs: bool = True, **options) -> str:
    """`fig` as HTML (see `exportable`); a whole page with plotly.js inlined unless told otherwise."""
    return exportable(fig).to_html(include_plotlyjs=include_plotlyjs, full_html=full_html, **options)


def write_html(fig: go.Figure, path: str | Path) -> Path:
    """A standalone HTML file with plotly.js embedded (opens offline)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(figure_html(fig), encoding="utf-8")
    return path


@lru_cache(maxsize=1)
def _kaleido_scope():
    from kaleido.scopes.plotly import PlotlyScope

    plotly_js = os.path.join(os.path.dirname(plotly.__file__), "package_data", "plotly.min.js")
    return PlotlyScope(plotlyjs=plotly_js, mathjax=False)


DEFAULT_HEIGHT = 500


def png_bytes(fig: go.Figure, width: int = 1200, height: int | None = None, scale: float = 1.0) -> bytes:
    """`fig` rendered as PNG by the bundled Chromium of kaleido 0.2.1; `height` defaults to the
    figure's own (figures with one panel per group grow with their groups)."""
    height = height or fig.layout.height or DEFAULT_HEIGHT
    return _kaleido_scope().transform(json.loads(exportable(fig).to_json()), format="png", width=width,
                                      height=height, scale=scale)


def write_png(fig: go.Figure, path: str | Path, width: int = 1200, height: int | None = None,
              scale: float = 1.0) -> Path:
    """Render `fig` to a PNG file (see `png_bytes`)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(png_bytes(fig, width, height, scale))
    return path
