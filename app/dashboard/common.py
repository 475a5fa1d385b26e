"""Shared page plumbing: the error boundary, "not available yet" handling, small formatters.

Pages never show a traceback: `page_body` runs a page function and turns any exception into a
readable st.error (the traceback goes to the server log, where a developer looks for it).
"""

from __future__ import annotations

import logging
import os
import traceback
from collections.abc import Callable
from pathlib import Path

import streamlit as st

log = logging.getLogger("taser.dashboard")

# Streamlit's Material icons, drawn from its own font: emoji come out as empty boxes where the
# system has no emoji font. They render in markdown (headers, captions, progress text, labels);
# dataframe cells do not render markdown, so tables show the status word alone.
STATUS_ICONS = {"queued": ":material/schedule:", "running": ":material/play_circle:",
                "succeeded": ":material/check_circle:", "failed": ":material/error:",
                "cancelled": ":material/cancel:"}


class NotAvailable(Exception):
    """A page part whose engine module has not landed yet (or whose results do not exist yet)."""


def page_body(render: Callable[[], None]) -> None:
    """Run a page's body; any failure becomes one readable message instead of a traceback."""
    try:
        render()
    except NotAvailable as exc:
        st.info(str(exc))
    except ImportError as exc:  # an engine part that has not landed (or a mismatched one)
        log.warning("page part not available: %s", exc)
        st.info(f"This part is not available yet in this installation ({exc}).")
    except Exception as exc:  # noqa: BLE001 - the browser must never see a traceback
        log.error("page failed:\n%s", traceback.format_exc())
        st.error(f"This page could not be drawn: {type(exc).__name__}: {exc}. "
                 "The details are in the dashboard's server log.")


def require(module: str, what: str):
    """Import an engine module lazily; NotAvailable with a clear message when it is not there."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise NotAvailable(f"{what} is not available yet in this installation "
                           f"(module `{module}` could not be imported: {exc}).") from None


def format_eta(seconds: float | None) -> str:
    if seconds is None:
        return ""
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{(seconds % 3600) // 60:02d}m"


def run_label(run: dict) -> str:
    name = run.get("name") or run.get("kind", "run")
    return f"#{run['id']} {name}"


def database_location() -> str:
    from db.store import database_location as location

    return location()


def artifact_root() -> Path:
    from app.paths import artifact_root as root

    return root()


def run_dir(run_id: int) -> Path:
    from app.paths import run_dir_for

    return run_dir_for(run_id)


def embedded_worker_note() -> str:
    flag = os.environ.get("TASER_EMBEDDED_WORKER")
    if flag == "1":
        return "an embedded worker was started with this dashboard"
    if flag == "0":
        return "started with --no-worker: run `taser worker` somewhere to execute jobs"
    return "no embedded worker (not started through `taser dashboard`)"


def finished_with_results(kinds: str | tuple[str, ...], keep: Callable[[object], bool] = bool,
                          limit: int = 200) -> list[tuple[dict, object]]:
    """(run, typed Result) of finished runs of `kinds` whose Result passes `keep`, newest first
    per kind: what every results page lists."""
    from db import store

    from app.jobs import parse_result

    pairs = [(run, parse_result(kind, run["summary"]))
             for kind in ((kinds,) if isinstance(kinds, str) else kinds) for run in store.finished_results(kind, limit=limit)]
    return [(run, result) for run, result in pairs if keep(result)]


def evaluation_results(limit: int = 200) -> list[tuple[dict, object]]:
    """Finished `evaluate` runs with their Result; evaluations cancelled before measuring anything
    are left out (the Robustness and Paper check pages share this)."""
    return finished_with_results("evaluate", lambda result: getattr(result, "is_evaluation", False), limit)


def show_blocks(blocks, key: str) -> None:
    """Render `app.viewers` blocks (what the HTML report renders too)."""
    from app.viewers import FigureBlock, TableBlock, TextBlock

    for index, block in enumerate(blocks):
        if getattr(block, "title", ""):
            st.subheader(block.title)
        if isinstance(block, TableBlock):
            st.dataframe(block.rows, hide_index=True, width="stretch")
        elif isinstance(block, FigureBlock):
            st.plotly_chart(block.figure, width="stretch", key=f"{key}.{index}")
        elif isinstance(block, TextBlock):
            st.write(block.text)


def exports(stem: str, table: list[dict], figure) -> None:
    from app.figures.export import figure_html
    from taser_engine import text_tables

    st.subheader("Export")
    columns = st.columns(5)
    columns[0].download_button("CSV", text_tables.to_csv(table), file_name=f"{stem}.csv", key=f"{stem}.csv")
    columns[1].download_button("Markdown", text_tables.to_markdown(table), file_name=f"{stem}.md", key=f"{stem}.md")
    columns[2].download_button("LaTeX", text_tables.to_latex(table, caption=stem), file_name=f"{stem}.tex",
                               key=f"{stem}.tex")
    columns[3].download_button("Figure (HTML)", figure_html(figure), file_name=f"{stem}.html", key=f"{stem}.html")
    if columns[4].button("Figure (PNG)", key=f"{stem}.png_make"):
        try:
            from app.figures.export import png_bytes

            png = png_bytes(figure, width=1100)
        except Exception as exc:  # noqa: BLE001 - kaleido missing or broken: say so, keep the page
            st.warning(f"PNG export needs kaleido: {exc}")
        else:
            st.download_button("download PNG", png, file_name=f"{stem}.png", key=f"{stem}.png")
