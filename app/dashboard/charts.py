"""The metric-curve controls the Run page and Compare share: x-axis, smoothing, log scale."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import streamlit as st

from app.figures.curves import EPOCH_KEYS, X_AXES, X_TITLES, on_x_axis


@dataclass(frozen=True)
class CurveSettings:
    axis: str = "step"
    smoothing: float = 0.0
    log_y: bool = False

    @property
    def x_title(self) -> str:
        return X_TITLES[self.axis]


def curve_controls(key: str, keys, *, benchmark: bool = False) -> CurveSettings:
    """x-axis (epoch offered when some run recorded epoch summaries), EMA smoothing, log scale; a
    benchmark's bars (x is a row number) take the log scale only."""
    if benchmark:
        return CurveSettings(log_y=bool(st.toggle("log scale", key=f"{key}.log_y")))
    choices = [axis for axis in X_AXES if axis != "epoch" or any(k in EPOCH_KEYS for k in keys)]
    left, middle, right = st.columns([1, 2, 1])
    axis = left.selectbox("x-axis", choices, key=f"{key}.axis")
    smoothing = middle.slider("smoothing (EMA weight)", 0.0, 0.99, 0.0, 0.01, key=f"{key}.smoothing",
                              help="0 draws the raw values; the raw line stays faint behind a smoothed one")
    log_y = right.toggle("log scale", key=f"{key}.log_y")
    return CurveSettings(axis, float(smoothing), bool(log_y))


def series_on_axis(series_by_run: Mapping[int, Mapping[str, list]], axis: str,
                   ) -> tuple[dict[int, dict[str, list]], list[int]]:
    """({run_id: series on `axis`}, ids of the runs that cannot be drawn on it: no epoch
    summaries, no stored times)."""
    from db import store

    ids = list(series_by_run)
    times = store.metric_step_times(ids) if axis == "wall time" else {}
    # the plotted keys may leave the epoch summaries out: every one of them maps steps to epochs
    epochs = store.metric_series(ids, list(EPOCH_KEYS), max_points=0) if axis == "epoch" else {}
    drawn, left_out = {}, []
    for run_id, series in series_by_run.items():
        moved = on_x_axis({**epochs.get(run_id, {}), **series}, axis, times.get(run_id))
        if moved is None:
            left_out.append(run_id)
        else:
            drawn[run_id] = {key: moved[key] for key in series}
    return drawn, left_out
