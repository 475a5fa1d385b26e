"""What the browser tests (and the dashboard benchmark) share: where Chromium is, waiting for a
started dashboard to answer, and how to tell that a page's charts drew."""

from __future__ import annotations

import subprocess
import time
import urllib.request
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")

def wait_healthy(base: str, server: subprocess.Popen, timeout_s: float) -> str | None:
    """Wait for the dashboard at `base` to answer its health check; None once it does, else why
    not (the process exited, or it did not answer in time)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            return f"the dashboard exited with {server.returncode}"
        try:
            with urllib.request.urlopen(f"{base}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return None
        except OSError:
            time.sleep(0.5)
    return f"the dashboard was not healthy after {timeout_s} s"


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
