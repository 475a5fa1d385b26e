"""Compare: pick runs (the selection lives in the URL, `compare?runs=3,7,9`), overlay their
curves, group seeds into mean ± sd, tabulate each metric's last / best / min / max, plot any
config field against any metric, and diff the configs.

"Best" is decided by the metric's name (`metric_direction`): the minimum for loss-like names
(loss, error, mse, nll, ms_per_sample, ratio), the maximum for accuracy-like ones (acc, accuracy,
auc, f1, precision, recall); other metrics (λ, LR, Stein statistics) have no best.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence

import streamlit as st

from app.dashboard.common import run_label

LOWER_IS_BETTER = ("loss", "error", "mse", "nll", "ms_per_sample", "ratio")
HIGHER_IS_BETTER = ("acc", "auc", "f1", "precision", "recall")
# fields that tell seeds of one setting apart (and so do not split a group)
SEED_FIELDS = ("seed",)
STATS = ("last", "best", "min", "max")


def default_selection(runs: Sequence[Mapping]) -> list[int]:
    """The two newest succeeded runs of one kind (runs newest first): never an evaluation beside
    a training. One run when no kind has two; none when nothing succeeded."""
    seen: dict[str, list[int]] = {}
    for run in runs:
        if run["status"] != "succeeded":
            continue
        ids = seen.setdefault(run["kind"], [])
        ids.append(run["id"])
        if len(ids) == 2:
            return ids
    return next(iter(seen.values()), [])[:1]


def metric_direction(key: str) -> str | None:
    """"min" when lower is better, "max" when higher is, None when the name does not say."""
    name = key.rsplit("/", 1)[-1].lower()
    if any(token in name for token in LOWER_IS_BETTER):
        return "min"
    if any(token in name for token in HIGHER_IS_BETTER):
        return "max"
    return None


def seed_groups(runs: Sequence[Mapping]) -> list[tuple[str, list[int]]]:
    """(label, run ids) per set of runs whose kind and config agree but for `seed` (names are not
    in the config), in the order of their first run; a run alone is a group of one."""
    groups: dict[tuple, list[Mapping]] = {}
    for run in runs:
        fields = {key: value for key, value in _flatten(run.get("config") or {}).items()
                  if key.rsplit(".", 1)[-1] not in SEED_FIELDS}
        groups.setdefault((run["kind"], repr(sorted(fields.items(), key=lambda item: item[0]))), []).append(run)
    out = []
    for members in groups.values():
        first = members[0]
        label = run_label(first) if len(members) == 1 else (
            f"{first.get('name') or first['kind']} ×{len(members)} seeds ("
            + ", ".join(f"#{run['id']}" for run in members) + ")")
        out.append((label, [run["id"] for run in members]))
    return out


def run_values(stats: Mapping[int, Mapping[str, Mapping]], summaries: Mapping[int, Mapping | None]
               ) -> dict[int, dict[str, dict[str, float | None]]]:
    """Per run: {metric: {last, best, min, max}} for its metrics, and {result.<name>: {last}} for
    the numbers at the top level of its summary (e.g. clean_acc, robust_avg)."""
    values: dict[int, dict[str, dict]] = {}
    for run_id in {*stats, *summaries}:
        mine = {}
        for key, stat in (stats.get(run_id) or {}).items():
            direction = metric_direction(key)
            mine[key] = {**stat, "best": stat.get(direction) if direction else None}
        for key, value in (summaries.get(run_id) or {}).items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                mine[f"result.{key}"] = {"last": value}
        values[run_id] = mine
    return values


def metric_rows(values: Mapping[int, Mapping[str, Mapping]], groups: Sequence[tuple[str, Sequence[int]]]
                ) -> list[dict]:
    """Rows {metric, run, last, best, min, max}, metric by metric (results last): a group's cells
    are "mean ± sd" over its runs (text), a single run's the plain numbers."""
    keys = sorted({key for mine in values.values() for key in mine}, key=lambda k: (k.startswith("result."), k))
    grouped = any(len(ids) > 1 for _, ids in groups)
    rows = []
    for key in keys:
        for label, ids in groups:
            present = [values[run_id][key] for run_id in ids if key in values.get(run_id, {})]
            if not present:
                continue
            row = {"metric": key, "run": label}
            for stat in STATS:
                numbers = [cell[stat] for cell in present if cell.get(stat) is not None]
                row[stat] = _mean_sd(numbers) if grouped else (numbers[0] if numbers else None)
            rows.append(row)
    return rows


def _mean_sd(numbers: Sequence[float]) -> str:
    if not numbers:
        return ""
    if len(numbers) == 1:
        return f"{numbers[0]:.4g}"
    return f"{statistics.fmean(numbers):.4g} ± {statistics.stdev(numbers):.2g}"


def group_series(series_by_run: Mapping[int, Mapping[str, Sequence[tuple]]], ids: Sequence[int]
                 ) -> dict[str, list[tuple[float, float, float]]]:
    """{key: [(x, mean, sd)]} over the group's runs at each x some of them reported (sd 0 where
    one did)."""
    out = {}
    keys = {key for run_id in ids for key in series_by_run.get(run_id, {})}
    for key in sorted(keys):
        at: dict[float, list[float]] = {}
        for run_id in ids:
            for point in series_by_run.get(run_id, {}).get(key) or []:
                at.setdefault(point[0], []).append(point[1])
        out[key] = [(x, statistics.fmean(ys), statistics.stdev(ys) if len(ys) > 1 else 0.0)
                    for x, ys in sorted(at.items())]
    return out


def config_fields(configs: Sequence[Mapping | None]) -> list[str]:
    """Flattened config fields with a scalar value in some run (`taser.lambda_max`), the ones that
    vary between these runs first."""
    flat = [_flatten(config or {}) for config in configs]
    fields = {key for values in flat for key, value in values.items() if _scalar(value)}
    varies = {key for key in fields if len({repr(values.get(key)) for values in flat}) > 1}
    return sorted(fields, key=lambda key: (key not in varies, key))


def param_points(runs: Sequence[Mapping], values: Mapping[int, Mapping[str, Mapping]], field: str,
                 metric: str) -> list[dict]:
    """{run, x, y} per run that has both the config field and the metric's last value."""
    points = []
    for run in runs:
        x = _flatten(run.get("config") or {}).get(field)
        y = ((values.get(run["id"]) or {}).get(metric) or {}).get("last")
        if _scalar(x) and y is not None:
            points.append({"run": run_label(run), "x": x, "y": y})
    return points


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


def _flatten(config: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flatten(value, f"{name}."))
        else:
            out[name] = value
    return out


def _scalar(value) -> bool:
    return isinstance(value, (int, float, str, bool))


def _cell(value) -> str:
    return value if isinstance(value, str) else repr(value)


def render() -> None:
    from db import store

    from app.dashboard.selection import url_run_multiselect

    st.title("Compare runs")
    runs = store.list_runs(light=True, limit=500)
    if not runs:
        st.info("No runs yet.")
        return
    labels = {run["id"]: f"{run_label(run)} ({run['kind']}, {run['status']})" for run in runs}
    chosen = url_run_multiselect("Runs", labels, default_selection(runs), key="compare.runs")
    if not chosen:
        st.info("Pick at least one run.")
        return
    full = store.runs_by_id(chosen)
    grouped = st.toggle("group seeds", key="compare.group_seeds",
                        help="Runs of one kind whose configs differ only in `seed` become one line: the "
                             "mean with a ±1 sd band, and mean ± sd in the tables.")
    groups = seed_groups(full) if grouped else [(run_label(run), [run["id"]]) for run in full]
    curves(full, groups)
    st.subheader("Metrics and results")
    st.caption("last, best, min and max over every stored point; best is the min for loss-like names "
               "(loss, error, mse, nll, ms_per_sample, ratio) and the max for accuracy-like ones "
               "(acc, auc, f1, precision, recall). result.* are the numbers of the run's summary.")
    values = run_values(store.metric_stats(chosen), {run["id"]: run["summary"] for run in full})
    rows = metric_rows(values, groups)
    if rows:
        st.dataframe(rows, hide_index=True, width="stretch")
    else:
        st.caption("No metrics or numeric results yet.")
    parameter_view(full, values)
    st.subheader("Config differences")
    names = {run["id"]: run_label(run) for run in full}
    diff = config_diff({f"{names[run['id']]} ({run['kind']})": run["config"] for run in full})
    if diff:
        st.dataframe(diff, hide_index=True, width="stretch")
    else:
        st.caption("The configs are identical." if len(full) > 1 else "Pick two runs to see a diff.")


def curves(full: list[dict], groups: list[tuple[str, list[int]]]) -> None:
    from db import store

    from app.dashboard.charts import curve_controls, series_on_axis
    from app.figures.curves import BENCH_X_TITLE, EPOCH_KEYS, is_benchmark, metric_curves

    st.subheader("Curves")
    chosen = [run["id"] for run in full]
    keys = store.metric_keys(chosen)
    if not keys:
        st.caption("These runs recorded no metrics.")
        return
    # keyed by the run selection: other runs have other metrics, so start from their defaults
    plain = [key for key in keys if key not in EPOCH_KEYS]  # epoch counters are an axis, not a default curve
    picked = st.multiselect("Metrics", keys, default=plain[:4] or keys[:1],
                            key="compare.keys." + "-".join(map(str, chosen)))
    settings = curve_controls("compare", keys)
    series = store.metric_series(chosen, picked)
    # a seed group is averaged per step, then placed on the axis through its first run's epochs or times
    lines = {ids[0]: (label, group_series(series, ids) if len(ids) > 1 else series.get(ids[0], {}))
             for label, ids in groups}
    bench = {run["id"] for run in full if is_benchmark(run["kind"])}
    drawn, left_out = series_on_axis({first: line for first, (_, line) in lines.items() if first not in bench},
                                     settings.axis)
    if left_out:
        st.caption(f"Not on the {settings.axis} axis (nothing recorded to place them): "
                   + ", ".join(lines[first][0] for first in left_out))
    for title, members, bars in ((settings.x_title, drawn, False),
                                 (BENCH_X_TITLE, {first: lines[first][1] for first in lines if first in bench}, True)):
        shown = [key for key in picked if any(line.get(key) for line in members.values())]
        if shown:  # benchmarks and trainings record different keys: no empty panels
            figure = metric_curves({lines[first][0]: line for first, line in members.items()}, shown,
                                   log_y=settings.log_y, smoothing=settings.smoothing, x_title=title, bars=bars)
            st.plotly_chart(figure, width="stretch", key=f"compare.curves{'.bench' if bars else ''}")


def parameter_view(full: list[dict], values: dict) -> None:
    """A config field against a metric over the chosen runs, or over every finished run of a kind."""
    from db import store

    from app.figures.params import param_scatter

    st.subheader("Parameter against metric")
    kinds = sorted({run["kind"] for run in full})
    scope = st.radio("Runs", ["the chosen runs", *(f"every finished {kind} run" for kind in kinds)],
                     horizontal=True, key="compare.param_scope")
    if scope == "the chosen runs":
        runs = full
    else:
        runs = store.finished_results(kinds[[f"every finished {kind} run" for kind in kinds].index(scope)], limit=500)
        values = run_values(store.metric_stats([run["id"] for run in runs]),
                            {run["id"]: run["summary"] for run in runs})
    fields = config_fields([run["config"] for run in runs])
    metrics = sorted({key for run in runs for key in values.get(run["id"], {})},
                     key=lambda k: (not k.startswith("result."), k))
    if not fields or not metrics:
        st.caption("These runs have no config fields or no metrics to plot against each other.")
        return
    left, right = st.columns(2)
    field = left.selectbox("Config field (x)", fields, key="compare.param_field")
    metric = right.selectbox("Metric (y, last value)", metrics, key="compare.param_metric")
    points = param_points(runs, values, field, metric)
    st.plotly_chart(param_scatter(points, field, metric), width="stretch", key="compare.param")
