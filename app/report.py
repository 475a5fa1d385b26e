"""A self-contained HTML report of chosen runs: tables and interactive Plotly figures, plotly.js
inlined, so the file can be mailed to someone without the app (no network needed to open it).

`build_report(run_ids)` reads the runs through db/ queries; `render_report(runs, metrics)` is the
pure part (data in, HTML out). Each run's own section shows its Result through the kind's viewer
(`app.viewers`), the same blocks the Run page shows; nothing here imports Streamlit.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone

from taser_engine import text_tables
from app.figures.curves import group_keys, metric_curves
from app.jobs import parse_result
from app.viewers import FigureBlock, TableBlock, TextBlock, result_blocks

STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem auto;max-width:1200px;color:#222}
h1{margin-bottom:0} .meta{color:#666} section{margin:2.5rem 0;border-top:1px solid #ddd;padding-top:1rem}
table{border-collapse:collapse;margin:.8rem 0;font-size:.9rem} th,td{border:1px solid #ccc;padding:.25rem .5rem}
th{background:#f3f3f3} pre{background:#f7f7f7;padding:.8rem;overflow:auto;font-size:.8rem}
"""


def build_report(run_ids: Sequence[int], *, title: str = "TASER Studio report", url: str | None = None) -> str:
    from db import store

    runs = store.runs_by_id(list(run_ids), url=url)
    missing = sorted(set(run_ids) - {run["id"] for run in runs})
    if missing:
        raise ValueError(f"no run(s) with id {', '.join(map(str, missing))}")
    metrics = store.metric_series([run["id"] for run in runs], max_points=1500, url=url)
    return render_report(runs, metrics, title=title)


def render_report(runs: Sequence[Mapping], metrics: Mapping[int, Mapping[str, list]], *,
                  title: str = "TASER Studio report") -> str:
    import plotly.offline

    parts = [f"<h1>{html.escape(title)}</h1>",
             f"<p class='meta'>Generated {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC from "
             f"{len(runs)} run(s). Figures are interactive (zoom, hover, toggle traces).</p>",
             "<h2>Runs</h2>", text_tables.to_html([_overview(run) for run in runs])]
    parts += _kind_sections(runs)
    for run in runs:
        parts.append(_run_section(run, metrics.get(run["id"], {})))
    body = "\n".join(parts)
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{STYLE}</style><script type='text/javascript'>{plotly.offline.get_plotlyjs()}</script>"
            f"</head><body>{body}</body></html>")


def _overview(run: Mapping) -> dict:
    return {"run": run["id"], "kind": run["kind"], "name": run.get("name") or "", "status": run["status"],
            "tags": ", ".join(run.get("tags") or []), "created": run.get("created_at"),
            "finished": run.get("finished_at")}


def _figure(fig) -> str:
    from app.figures.export import figure_html

    return figure_html(fig, include_plotlyjs=False, full_html=False, config={"displaylogo": False})


def _kind_sections(runs: Sequence[Mapping]) -> list[str]:
    """Cross-run sections: robustness of all evaluations together."""
    from app.figures.robustness import accuracy_bars
    from app.results import robustness_rows

    evaluations = []
    for run in runs:
        result = parse_result(run["kind"], run.get("summary"))
        if getattr(result, "is_evaluation", False):
            evaluations.append((f"#{run['id']} {run.get('name') or ''}".strip(), result.stored()))
    if not evaluations:
        return []
    table, bars = robustness_rows(evaluations)
    return ["<section><h2>Robustness</h2>", text_tables.to_html(table), _figure(accuracy_bars(bars)), "</section>"]


def _run_section(run: Mapping, series: Mapping[str, list]) -> str:
    parts = [f"<section><h2>Run #{run['id']} · {html.escape(run['kind'])} · {html.escape(run.get('name') or '')}</h2>"]
    summary = run.get("summary") or {}
    parts += [_block_html(block) for block in result_blocks(run["kind"], parse_result(run["kind"], summary))]
    if series:
        for group, keys in group_keys(list(series)).items():
            parts.append(_figure(metric_curves({f"#{run['id']}": series}, keys, title=f"{group} metrics")))
    parts.append("<details><summary>config</summary><pre>"
                 + html.escape(json.dumps(run.get("config"), indent=2)) + "</pre></details>")
    if summary:
        small = {key: value for key, value in summary.items() if key not in ("curves", "per_sample", "rows")}
        parts.append("<details><summary>summary</summary><pre>"
                     + html.escape(json.dumps(small, indent=2, default=str)[:20000]) + "</pre></details>")
    parts.append("</section>")
    return "\n".join(parts)


def _block_html(block) -> str:
    title = f"<h3>{html.escape(block.title)}</h3>" if getattr(block, "title", "") else ""
    if isinstance(block, TableBlock):
        return title + text_tables.to_html(block.rows)
    if isinstance(block, FigureBlock):
        return title + _figure(block.figure)
    if isinstance(block, TextBlock):
        return f"<p>{html.escape(block.text)}</p>"
    raise TypeError(f"not a result block: {block!r}")
