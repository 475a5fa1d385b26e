"""What the browser tests share: where Chromium is, and how to tell that a page's charts drew."""

from __future__ import annotations

from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")

# Per Plotly chart of the page: its SVG layers, the traces drawn in them (lines, bars), its WebGL canvases.
CHART_STATE_JS = """plots => plots.map(plot => ({
    svg: plot.querySelectorAll('.main-svg').length,
    traces: plot.querySelectorAll('.main-svg .cartesianlayer .trace').length,
    gl: plot.querySelectorAll('canvas').length}))"""


def open_report(page, path: Path) -> list[dict]:
    """Open a saved HTML report and return the state of each of its charts once they exist."""
    page.goto(path.as_uri(), wait_until="load")
    page.wait_for_function("document.querySelectorAll('.js-plotly-plot').length > 0")
    return page.eval_on_selector_all(".js-plotly-plot", CHART_STATE_JS)


def undrawn(charts: list[dict]) -> list[int]:
    """Indices of the charts that drew no SVG or no traces."""
    return [index for index, chart in enumerate(charts) if not chart["svg"] or not chart["traces"]]
