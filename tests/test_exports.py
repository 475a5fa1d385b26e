"""Figures exported from the dashboard (PNG through kaleido, standalone HTML) keep their colours,
and figures in exports and reports draw as SVG.

The dashboard's export path runs inside AppTest: Streamlit imported (its template is Plotly's
default then), the figure shown with st.plotly_chart, then `common.exports`; what the download
buttons would hand out is recorded on the way.
"""

from __future__ import annotations

import io
import json
import re

import pytest

pytest.importorskip("streamlit.testing.v1")
from streamlit.testing.v1 import AppTest  # noqa: E402

# Streamlit's theme template colours ("#000001" ... "#000040"), replaced only by its frontend
PLACEHOLDER = re.compile(r'"#0000(0[1-9]|[1-3][0-9]|40)"')
BARS = [{"label": "vanilla", "values": {"clean": 0.9, "autoattack": 0.4}, "ci": {}},
        {"label": "with TASER", "values": {"clean": 0.85, "autoattack": 0.5}, "ci": {}}]


@pytest.fixture(autouse=True)
def _main_module_kept():
    """AppTest runs its script as `__main__` and leaves it in sys.modules; a later test's spawned
    job child would start by running that (deleted) temporary script and exit with code 1."""
    import sys

    main = sys.modules["__main__"]
    yield
    sys.modules["__main__"] = main


def exporting_page():
    import streamlit as st

    from app.dashboard.common import exports
    from app.figures.robustness import accuracy_bars
    from tests.test_exports import BARS

    figure = accuracy_bars(BARS)
    st.plotly_chart(figure, key="exports.fig")
    exports("robustness", [{"run": bar["label"]} for bar in BARS], figure)


@pytest.fixture
def downloads(monkeypatch):
    """file name -> data of every st.download_button the page renders."""
    import streamlit
    from streamlit.delta_generator import DeltaGenerator

    offered: dict[str, object] = {}
    method, function = DeltaGenerator.download_button, streamlit.download_button

    # a deferred download (data a callable, built on click) is recorded as what the click builds
    def recording_method(self, label, data, file_name=None, *args, **kwargs):
        offered[file_name] = data() if callable(data) else data
        return method(self, label, data, file_name, *args, **kwargs)

    def recording_function(label, data, file_name=None, *args, **kwargs):
        offered[file_name] = data() if callable(data) else data
        return function(label, data, file_name, *args, **kwargs)

    # columns' buttons go through the class, `st.download_button` is bound to the main container
    monkeypatch.setattr(DeltaGenerator, "download_button", recording_method)
    monkeypatch.setattr(streamlit, "download_button", recording_function)
    return offered


def bar_colours(png: bytes) -> set[tuple[int, int, int]]:
    """Colours covering at least 1% of the image that are clearly not grey (bars, not axes or text)."""
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    counts = image.getcolors(image.width * image.height)
    return {colour for count, colour in counts
            if count >= image.width * image.height // 100 and max(colour) - min(colour) > 60}


def test_png_exported_from_the_dashboard_has_coloured_bars(downloads):
    at = AppTest.from_function(exporting_page, default_timeout=60)
    at.run()
    at.button(key="robustness.png_make").click().run()
    assert not at.exception and not at.warning, [w.value for w in at.warning]
    png = downloads["robustness.png"]
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    from PIL import Image

    assert len(Image.open(io.BytesIO(png)).convert("RGB").getcolors(1 << 24)) > 1
    assert len(bar_colours(png)) >= 2, "bars are not drawn in (two) real colours"


def test_html_exported_from_the_dashboard_carries_real_colours(downloads):
    at = AppTest.from_function(exporting_page, default_timeout=60)
    at.run()
    assert not at.exception
    page = downloads["robustness.html"]
    assert "Plotly.newPlot" in page and "<script src=" not in page
    spec = page.rsplit("Plotly.newPlot(", 1)[1]  # the figure, after the inlined plotly.js
    assert not PLACEHOLDER.search(spec), PLACEHOLDER.search(spec).group()
    assert '"colorway":["#636efa"' in spec.replace(" ", "")  # plotly_white's own colours


def test_exportable_leaves_the_shown_figure_alone_and_draws_svg():
    import streamlit  # noqa: F401 - makes Streamlit's template the default, as in the dashboard

    import plotly.graph_objects as go

    from app.figures.export import exportable

    # a WebGL line (what the curves drew before they were SVG) beside a bar chart's trace
    shown = go.Figure([go.Scattergl(x=[0, 1], y=[1.0, 0.5], mode="lines", name="loss"),
                       go.Bar(x=["a", "b"], y=[0.1, 0.4], name="acc")])
    before = shown.to_json()
    exported = exportable(shown)
    assert shown.to_json() == before
    assert [trace.type for trace in exported.data] == ["scatter", "bar"]
    assert [list(trace.y) for trace in exported.data] == [list(trace.y) for trace in shown.data]
    assert not PLACEHOLDER.search(exported.to_json())


def test_a_report_built_in_the_dashboard_process_carries_real_colours():
    import streamlit  # noqa: F401 - the Report page builds reports where Streamlit's template is the default

    from app.report import render_report

    run = {"id": 1, "kind": "count", "name": "a", "status": "succeeded", "config": {"steps": 2}, "summary": {}}
    page = render_report([run], {1: {"loss": [(1, 1.0), (2, 0.5)]}})
    figures = page.split("</script>", 1)[1]  # what follows the inlined plotly.js
    assert not PLACEHOLDER.search(figures), PLACEHOLDER.search(figures).group()
    call = figures.split("Plotly.newPlot(", 1)[1]
    traces, _ = json.JSONDecoder().raw_decode(call.split(",", 1)[1].lstrip())  # newPlot(id, data, layout)
    assert [trace["type"] for trace in traces] == ["scatter"]
