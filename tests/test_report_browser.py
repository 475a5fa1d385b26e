"""A 6-run HTML report opened in headless Chromium: every chart draws.

With one WebGL context per `scattergl` chart, a report of several runs went past the browser's
limit ("Too many active WebGL contexts") and its older charts went blank; reports draw SVG.
The runs are small real `count` trainings through the real worker; no dashboard is started.
"""

from __future__ import annotations

import pytest

from tests.browser_support import CHROMIUM, open_report, undrawn

RUNS = 6

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium not found at /usr/bin/chromium "
                                                      "(install it with `make browser`)"),
]


@pytest.fixture
def six_runs(queue_db):
    from app.jobs import normalized_config
    from app.worker import Worker, WorkerOptions
    from db import store

    for index in range(RUNS):
        store.submit_job("count", normalized_config("count", {"steps": 20, "step_s": 0.0, "lr": 0.1 * (index + 1)}),
                         name=f"count-{index}")
    Worker(WorkerOptions(once=True, poll_interval_s=0.05, root=queue_db / "artifacts")).run()
    runs = store.list_runs(light=True)
    assert len(runs) == RUNS and {run["status"] for run in runs} == {"succeeded"}
    return [run["id"] for run in runs]


def test_every_chart_of_a_six_run_report_draws(six_runs, tmp_path):
    playwright = pytest.importorskip("playwright.sync_api")
    from app.report import build_report

    page_file = tmp_path / "report.html"
    page_file.write_text(build_report(six_runs), encoding="utf-8")
    messages: list[str] = []
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 900})
            page.on("console", lambda message: messages.append(message.text))
            page.on("pageerror", lambda error: messages.append(str(error)))
            charts = open_report(page, page_file)
        finally:
            browser.close()
    assert len(charts) >= RUNS, charts  # one curve chart per run at least
    blank = undrawn(charts)
    assert not blank, f"charts {blank} of {len(charts)} drew no traces: {charts}"
    assert not any(chart["gl"] for chart in charts), "a report chart uses WebGL"
    assert not [text for text in messages if "webgl" in text.lower()], messages
