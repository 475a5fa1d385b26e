"""Metric curves of one or several runs (loss parts, λ(t), LR, Stein residual statistics).

A series is a list of points (x, value) or, for a group of seeds, (x, mean, sd); a group is drawn
as its mean line with a ±1 sd band. Traces are SVG (`go.Scatter`), not WebGL: a report page
holds many charts and browsers allow only a few WebGL contexts per page.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

# Metric families shown together on a run's page, in this order (by key prefix; accuracies by
# substring, e.g. clean_acc); anything else goes in "other".
METRIC_GROUPS: dict[str, tuple[str, ...]] = {
    "loss": ("loss",),
    "schedule": ("lambda", "lr"),
    "stein": ("stein_",),
    "accuracy": ("acc", "accuracy"),
    "system": ("system/",),
}
# Series this short are drawn with markers: a line through one point draws nothing.
MARKERS_UP_TO = 30
X_AXES = ("step", "epoch", "wall time")
X_TITLES = {"step": "step", "epoch": "epoch", "wall time": "wall time (s since the first point)"}
# The key training loops report epoch summaries under (app/jobs/runner.py prefixes the scope).
EPOCH_KEYS = ("epoch/epoch", "epoch")
# Benchmarks report one point per measured configuration: their "step" is a row number.
BENCH_X_TITLE = "benchmark configuration (row of its table)"


def group_keys(keys: Sequence[str]) -> dict[str, list[str]]:
    """Split metric keys into the families above (by prefix), keeping each key once."""
    groups: dict[str, list[str]] = {name: [] for name in METRIC_GROUPS}
    groups["other"] = []
    for key in sorted(keys):
        for name, prefixes in METRIC_GROUPS.items():
            if any(key.startswith(prefix) or (name == "accuracy" and prefix in key) for prefix in prefixes):
                groups[name].append(key)
                break
        else:
            groups["other"].append(key)
    return {name: members for name, members in groups.items() if members}


def is_benchmark(kind: str | None) -> bool:
    return bool(kind) and kind.startswith("bench-")


def ema(values: Sequence[float], weight: float) -> list[float]:
    """Exponential moving average with TensorBoard's debiasing (the first points are not pulled
    towards 0); weight 0 returns the values, 0.99 smooths most."""
    if weight <= 0:
        return list(values)
    out, last, debias = [], 0.0, 1.0
    for value in values:
        last = weight * last + (1 - weight) * value
        debias *= weight
        out.append(last / (1 - debias))
    return out


def epoch_of_step(series: Mapping[str, Sequence[tuple]]) -> Callable[[float], float] | None:
    """Step -> fractional epoch from the epoch summaries a run recorded (epochs completed at a
    step), linear inside an epoch and past the last one; None when the run recorded none."""
    points = next((series[key] for key in EPOCH_KEYS if series.get(key)), None)
    if not points:
        return None
    steps = [0.0] + [float(point[0]) for point in points]
    epochs = [0.0] + [float(point[1]) for point in points]
    per_step = (epochs[-1] - epochs[-2]) / (steps[-1] - steps[-2]) if steps[-1] > steps[-2] else 0.0

    def convert(step: float) -> float:
        if step > steps[-1]:  # a live run inside its next epoch
            return epochs[-1] + (step - steps[-1]) * per_step
        return float(np.interp(step, steps, epochs))

    return convert


def time_of_step(step_times: Sequence[tuple[int, float]] | None) -> Callable[[float], float] | None:
    """Step -> seconds since the run's first stored point (`db.reads.metric_step_times`)."""
    if not step_times:
        return None
    steps, seconds = zip(*step_times)
    return lambda step: float(np.interp(step, steps, seconds))


def on_x_axis(series: Mapping[str, Sequence[tuple]], axis: str,
              step_times: Sequence[tuple[int, float]] | None = None) -> dict[str, list[tuple]] | None:
    """The series with x changed from step to `axis` (one of X_AXES); None when this run cannot
    be drawn on it (no epoch summaries, no stored times)."""
    if axis == "step":
        return {key: list(points) for key, points in series.items()}
    convert = epoch_of_step(series) if axis == "epoch" else time_of_step(step_times)
    if convert is None:
        return None
    return {key: [(convert(point[0]), *point[1:]) for point in points] for key, points in series.items()}


def metric_curves(series_by_run: Mapping[str, Mapping[str, Sequence[tuple]]],
                  keys: Sequence[str], *, log_y: bool = False, columns: int = 2,
                  title: str | None = None, smoothing: float = 0.0, x_title: str = "step",
                  bars: bool = False) -> go.Figure:
    """One panel per metric key, one line per run or seed group (label -> {key: points}).

    `smoothing` (0..0.99) draws an EMA over the raw line, which stays faint behind it; `bars`
    draws each point as a bar (benchmark rows, whose x is no time axis)."""
    keys = list(keys)
    if not keys:
        return empty_figure("no metrics recorded yet")
    rows = math.ceil(len(keys) / columns)
    cols = min(columns, len(keys))
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=keys, shared_xaxes=False,
                        vertical_spacing=min(0.2, 0.9 / max(rows, 1)) if rows > 1 else 0.1)
    palette = _palette()
    for run_index, (label, series) in enumerate(series_by_run.items()):
        colour = palette[run_index % len(palette)]
        for key_index, key in enumerate(keys):
            points = series.get(key) or []
            if not points:
                continue
            place = {"row": key_index // cols + 1, "col": key_index % cols + 1}
            legend = {"name": str(label), "legendgroup": str(label),
                      "showlegend": key_index == 0 or len(keys) == 1}
            for trace in _traces(points, colour, legend, smoothing, bars):
                fig.add_trace(trace, **place)
    if log_y:
        fig.update_yaxes(type="log")
    # bars stand at whole row numbers: a category axis, no 0.5 ticks between them
    fig.update_xaxes(title_text=x_title, type="category" if bars else None)
    # the legend sits right of the panels, clear of the x-axis titles under them
    fig.update_layout(height=max(320, 260 * rows) + 40, title=title, margin={"t": 60, "b": 60},
                      barmode="group", legend={"x": 1.02, "xanchor": "left", "y": 1, "yanchor": "top"})
    return fig


def _traces(points: Sequence[tuple], colour: str, legend: dict, smoothing: float, bars: bool) -> list:
    xs = [point[0] for point in points]
    values = [point[1] for point in points]
    sds = [point[2] for point in points] if len(points[0]) > 2 else None
    if bars:
        error = {"type": "data", "array": sds, "visible": True} if sds else None
        return [go.Bar(x=xs, y=values, marker={"color": colour}, error_y=error, **legend)]
    mode = "lines+markers" if len(points) <= MARKERS_UP_TO else "lines"
    traces = []
    shown = values
    if smoothing > 0:
        shown = ema(values, smoothing)
        traces.append(go.Scatter(x=xs, y=values, mode=mode, line={"color": colour, "width": 1}, opacity=0.25,
                                 hoverinfo="skip", showlegend=False, legendgroup=legend["legendgroup"]))
    if sds:
        spread = ema(sds, smoothing) if smoothing > 0 else sds
        upper = [m + s for m, s in zip(shown, spread)]
        lower = [m - s for m, s in zip(shown, spread)]
        traces.append(go.Scatter(x=xs + xs[::-1], y=upper + lower[::-1], fill="toself", fillcolor=colour,
                                 opacity=0.2, line={"width": 0}, hoverinfo="skip", showlegend=False,
                                 legendgroup=legend["legendgroup"]))
    traces.append(go.Scatter(x=xs, y=shown, mode=mode, line={"color": colour}, marker={"size": 6}, **legend))
    return traces


def empty_figure(message: str) -> go.Figure:
    fig = go.Figure()
    fig.add_annotation(text=message, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    fig.update_layout(height=240)
    return fig


def _palette() -> list[str]:
    import plotly.express as px

    return list(px.colors.qualitative.Plotly)
