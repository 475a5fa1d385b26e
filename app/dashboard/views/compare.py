"""Compare: pick runs, overlay their curves, diff their configs, metrics side by side."""

from __future__ import annotations

import streamlit as st

from app.dashboard.common import run_label


def config_diff(configs: dict[str, dict]) -> list[dict]:
    """Rows {field, run label: value...} for the fields whose values differ between runs (pure)."""
    flat = {label: _flatten(config or {}) for label, config in configs.items()}
    fields = sorted({key for values in flat.values() for key in values})
    rows = []
    for key in fields:
        values = [flat[label].get(key, "—") for label in flat]
        if len({repr(value) for value in values}) > 1:
            rows.append({"field": key, **{label: _cell(flat[label].get(key, "—")) for label in flat}})
    return rows


def side_by_side(latest: dict[int, dict[str, float]], summaries: dict[int, dict | None],
                 runs: list[tuple[int, str]]) -> list[dict]:
    """Rows {metric, run label: value}: each run's last metric values, then the numbers at the top
    level of its summary (e.g. clean_acc, robust_avg), as `result.<name>` (pure)."""
    values: dict[int, dict[str, float]] = {}
    for run_id, _ in runs:
        mine = dict(latest.get(run_id, {}))
        for key, value in (summaries.get(run_id) or {}).items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                mine[f"result.{key}"] = value
        values[run_id] = mine
    keys = sorted({key for mine in values.values() for key in mine}, key=lambda k: (k.startswith("result."), k))
    return [{"metric": key, **{label: values[run_id].get(key) for run_id, label in runs}} for key in keys]


def _flatten(config: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flatten(value, f"{name}."))
        else:
            out[name] = value
    return out


def _cell(value) -> str:
    return value if isinstance(value, str) else repr(value)


def render() -> None:
    from db import store

    from app.figures.curves import metric_curves

    st.title("Compare runs")
    runs = store.list_runs(light=True, limit=500)
    if not runs:
        st.info("No runs yet.")
        return
    labels = {run["id"]: f"{run_label(run)} ({run['kind']}, {run['status']})" for run in runs}
    default = [run["id"] for run in runs if run["status"] == "succeeded"][:2]
    chosen = st.multiselect("Runs", list(labels), default=default, format_func=labels.get, key="compare.runs")
    if not chosen:
        st.info("Pick at least one run.")
        return
    full = store.runs_by_id(chosen)
    names = {run["id"]: run_label(run) for run in full}
    keys = store.metric_keys(chosen)
    st.subheader("Curves")
    if keys:
        # keyed by the run selection: other runs have other metrics, so start from their defaults
        picked = st.multiselect("Metrics", keys, default=keys[: min(4, len(keys))],
                                key="compare.keys." + "-".join(map(str, chosen)))
        log_y = st.toggle("log scale", key="compare.log_y")
        series = store.metric_series(chosen, picked)
        st.plotly_chart(metric_curves({names[run_id]: series.get(run_id, {}) for run_id in chosen}, picked,
                                      log_y=log_y), width="stretch", key="compare.curves")
    else:
        st.caption("These runs recorded no metrics.")
    st.subheader("Final metrics and results side by side")
    rows = side_by_side(store.latest_metrics(chosen), {run["id"]: run["summary"] for run in full},
                        [(run_id, names[run_id]) for run_id in chosen])
    if rows:
        st.dataframe(rows, hide_index=True, width="stretch")
    else:
        st.caption("No metrics or numeric results yet.")
    st.subheader("Config differences")
    diff = config_diff({f"{names[run['id']]} ({run['kind']})": run["config"] for run in full})
    if diff:
        st.dataframe(diff, hide_index=True, width="stretch")
    else:
        st.caption("The configs are identical." if len(full) > 1 else "Pick two runs to see a diff.")
