"""Run selections that live in the page's URL (`compare?runs=3,7,9`), so a selection can be
shared, bookmarked and linked to (the Runs table links to Compare this way).

The URL is read when the page's multiselect is first drawn and written back whenever the
selection changes; ids that are not numbers or not among the page's candidates are dropped with a
warning, never an error.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import streamlit as st

URL_PARAM = "runs"


def parse_run_ids(text: str | None) -> tuple[list[int], list[str]]:
    """("3, 7,x,7") -> ([3, 7], ["x"]): ids in order, each once, and the parts that are not ids."""
    ids, bad = [], []
    for part in (text or "").split(","):
        part = part.strip().lstrip("#")
        if not part:
            continue
        if part.isdigit():
            if int(part) not in ids:
                ids.append(int(part))
        else:
            bad.append(part)
    return ids, bad


def format_run_ids(ids: Sequence[int]) -> str:
    return ",".join(str(run_id) for run_id in ids)


def url_run_multiselect(label: str, labels: Mapping[int, str], default: Sequence[int], *, key: str,
                        param: str = URL_PARAM, help: str | None = None) -> list[int]:
    """A multiselect of run ids (labels: id -> label, in display order) that starts from the URL's
    `param` when there is one, else from `default`, and keeps the URL in step with it."""
    initial = [run_id for run_id in default if run_id in labels]
    requested = st.query_params.get(param)
    if requested is not None and key not in st.session_state:
        ids, bad = parse_run_ids(requested)
        unknown = [run_id for run_id in ids if run_id not in labels]
        if bad or unknown:
            st.warning("Left out of the selection in the URL: "
                       + ", ".join([*(f"{part!r} (not a run id)" for part in bad),
                                    *(f"#{run_id} (no such run here)" for run_id in unknown)]))
        # nothing usable in the URL: the page's own default rather than an empty page
        initial = [run_id for run_id in ids if run_id in labels] or initial
    chosen = st.multiselect(label, list(labels), default=initial, format_func=labels.get, key=key, help=help)
    text = format_run_ids(chosen)
    if chosen and st.query_params.get(param) != text:
        st.query_params[param] = text
    elif not chosen and param in st.query_params:
        del st.query_params[param]
    return chosen
