"""Compare page, metric charts and URL selections (issue 18): pure builders, then the page in
AppTest on a small database written directly (no worker: a few finished runs with metrics)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.dashboard.selection import parse_run_ids
from app.dashboard.views.compare import (
    config_fields, default_selection, group_series, metric_direction, metric_rows, param_points, run_values,
    seed_groups,
)
from app.figures.curves import ema, epoch_of_step, metric_curves, on_x_axis

SAMPLES = json.loads((Path(__file__).parent / "data" / "result_samples.json").read_text())


def test_defaults_never_pair_an_evaluation_with_a_training():
    runs = [{"id": 9, "kind": "evaluate", "status": "succeeded"}, {"id": 8, "kind": "train", "status": "failed"},
            {"id": 7, "kind": "train", "status": "succeeded"}, {"id": 6, "kind": "evaluate", "status": "running"},
            {"id": 5, "kind": "train", "status": "succeeded"}, {"id": 4, "kind": "evaluate", "status": "succeeded"}]
    assert default_selection(runs) == [7, 5]
    assert default_selection(runs[:3]) == [9]
    assert default_selection([{"id": 1, "kind": "train", "status": "queued"}]) == []


def test_best_is_decided_by_the_metric_name():
    assert metric_direction("loss") == metric_direction("epoch/loss_ce") == "min"
    assert metric_direction("clean_acc") == metric_direction("val/accuracy") == "max"
    assert metric_direction("lambda") is None and metric_direction("lr") is None
    values = run_values({1: {"loss": {"last": 0.3, "min": 0.2, "max": 2.0}, "acc": {"last": 0.8, "min": 0.1, "max": 0.9},
                             "lr": {"last": 0.1, "min": 0.1, "max": 0.1}}},
                        {1: {"clean_acc": 0.7, "flag": True, "note": "x"}})
    assert values[1]["loss"]["best"] == 0.2 and values[1]["acc"]["best"] == 0.9 and values[1]["lr"]["best"] is None
    assert values[1]["result.clean_acc"] == {"last": 0.7} and "result.flag" not in values[1]


def _run(run_id, seed, lr=0.1, kind="train", name=None):
    return {"id": run_id, "kind": kind, "name": name or f"r{run_id}", "config": {"lr": lr, "seed": seed,
                                                                               "taser": {"lambda_max": 1.0}}}


def test_seed_groups_join_runs_differing_only_in_seed():
    runs = [_run(1, 0), _run(2, 1), _run(3, 0, lr=0.3), _run(4, 2), _run(5, 0, kind="finetune")]
    groups = seed_groups(runs)
    assert [ids for _, ids in groups] == [[1, 2, 4], [3], [5]]
    assert "×3 seeds" in groups[0][0] and groups[1][0] == "#3 r3"
    values = {1: {"loss": {"last": 1.0, "min": 1.0, "max": 3.0}}, 2: {"loss": {"last": 3.0, "min": 1.0, "max": 3.0}},
              4: {"loss": {"last": 2.0, "min": 1.0, "max": 3.0}}, 3: {"loss": {"last": 5.0, "min": 5.0, "max": 5.0}}}
    values = run_values(values, {})
    rows = metric_rows(values, groups)
    assert rows[0] == {"metric": "loss", "run": groups[0][0], "last": "2 ± 1", "best": "1 ± 0", "min": "1 ± 0",
                       "max": "3 ± 0"}
    assert rows[1]["last"] == "5"  # a run alone in its group: its number
    plain = metric_rows(values, [("#3 r3", [3])])
    assert plain == [{"metric": "loss", "run": "#3 r3", "last": 5.0, "best": 5.0, "min": 5.0, "max": 5.0}]


def test_group_series_is_mean_and_sd_per_step():
    series = {1: {"loss": [(0, 1.0), (1, 2.0)]}, 2: {"loss": [(0, 3.0), (1, 2.0), (2, 7.0)]}}
    assert group_series(series, [1, 2]) == {"loss": [(0, 2.0, pytest.approx(2 ** 0.5)), (1, 2.0, 0.0), (2, 7.0, 0.0)]}


def test_parameter_points_use_flattened_fields():
    runs = [_run(1, 0), _run(2, 1, lr=0.3), _run(3, 0)]
    assert config_fields([run["config"] for run in runs])[:2] == ["lr", "seed"]  # varying first
    assert "taser.lambda_max" in config_fields([run["config"] for run in runs])
    values = {1: {"loss": {"last": 0.5}}, 2: {"loss": {"last": 0.2}}}
    assert param_points(runs, values, "lr", "loss") == [{"run": "#1 r1", "x": 0.1, "y": 0.5},
                                                        {"run": "#2 r2", "x": 0.3, "y": 0.2}]


def test_url_run_ids_parse_leniently():
    assert parse_run_ids("3, 7,#9,7") == ([3, 7, 9], [])
    assert parse_run_ids("3,x,,-1") == ([3], ["x", "-1"])
    assert parse_run_ids(None) == ([], [])


def test_ema_smooths_without_pulling_the_start_to_zero():
    assert ema([1.0, 2.0], 0.0) == [1.0, 2.0]
    smooth = ema([5.0, 5.0, 5.0, 10.0], 0.9)
    assert smooth[0] == pytest.approx(5.0) and smooth[2] == pytest.approx(5.0) and 5.0 < smooth[3] < 10.0


def test_x_axes_epoch_and_wall_time():
    series = {"loss": [(0, 1.0), (5, 0.5), (10, 0.2), (15, 0.1)], "epoch/epoch": [(10, 1.0)]}
    to_epoch = epoch_of_step(series)
    assert to_epoch(5) == pytest.approx(0.5) and to_epoch(15) == pytest.approx(1.5)
    assert on_x_axis(series, "epoch")["loss"][1] == (pytest.approx(0.5), 0.5)
    assert on_x_axis({"loss": [(0, 1.0)]}, "epoch") is None  # no epochs recorded: not drawable
    timed = on_x_axis({"loss": [(0, 1.0), (10, 2.0)]}, "wall time", [(0, 0.0), (10, 4.0)])
    assert timed["loss"] == [(0.0, 1.0), (4.0, 2.0)]


def test_curves_are_svg_with_markers_bands_and_a_clear_legend():
    fig = metric_curves({"one point": {"acc": [(3, 0.5)]}, "long": {"acc": [(i, i / 100) for i in range(100)]}},
                        ["acc"], smoothing=0.6)
    assert {trace.type for trace in fig.data} == {"scatter"}  # not scattergl: reports hold many charts
    single = [trace for trace in fig.data if trace.name == "one point"][0]
    assert "markers" in single.mode
    long = [trace for trace in fig.data if trace.name == "long"][0]
    assert long.mode == "lines" and long.y[-1] < 0.99  # the smoothed line lags the raw one
    assert any(trace.opacity == 0.25 and trace.showlegend is False for trace in fig.data)  # raw, faint
    assert fig.layout.legend.x > 1  # right of the panels, not over the x-axis titles
    band = metric_curves({"g": {"acc": [(0, 0.5, 0.1), (1, 0.6, 0.1)]}}, ["acc"])
    assert any(trace.fill == "toself" for trace in band.data)
    bars = metric_curves({"b": {"ratio": [(1, 2.0), (2, 3.0)]}}, ["ratio"], bars=True, x_title="row")
    assert bars.data[0].type == "bar" and bars.layout.xaxis.title.text == "row"


# ------------------------------------------------------------------------------------------------
# the page

pytest.importorskip("streamlit.testing.v1")
from tests.dashboard_support import open_clean_page, temporary_database  # noqa: E402


@pytest.fixture(scope="module")
def small_db(tmp_path_factory):
    """Three seeds of one setting, one other learning rate, a benchmark and (newest) an evaluation."""
    from db import store

    with temporary_database(tmp_path_factory.mktemp("compare")):
        ids = {}
        for name, lr, seed in (("s0", 0.1, 0), ("s1", 0.1, 1), ("s2", 0.1, 2), ("fast", 0.3, 0)):
            ids[name] = store.record_finished_run("count", {"steps": 6, "lr": lr, "seed": seed}, {"final": lr},
                                                  name=name)
            store.log_metric_points(ids[name], [(step, {"loss": 1.0 / (step + 1) + seed * 0.01 + lr})
                                                for step in range(6)])
        store.log_metrics(ids["s0"], 5, {"epoch/epoch": 1.0})
        ids["bench"] = store.record_finished_run("bench-overhead", {"models": ["small_cnn"]}, {"rows": []},
                                                 name="bench")
        store.log_metric_points(ids["bench"], [(1, {"ratio": 2.0}), (2, {"ratio": 2.5})])
        ids["eval"] = store.record_finished_run("evaluate", {"imported": "x.json"}, SAMPLES["evaluate"], name="eval")
        yield ids


def open_compare(query: dict | None = None):
    return open_clean_page("compare", query)


def test_compare_defaults_to_two_runs_of_one_kind_and_writes_the_url(small_db):
    at = open_compare()
    assert at.multiselect(key="compare.runs").value == [small_db["fast"], small_db["s2"]]
    assert at.query_params["runs"] == f"{small_db['fast']},{small_db['s2']}"
    at.multiselect(key="compare.runs").set_value([small_db["s0"]]).run()
    assert at.query_params["runs"] == str(small_db["s0"])


def test_compare_reads_the_url_and_warns_about_bad_ids(small_db):
    at = open_compare({"runs": f"{small_db['s0']},abc,9999,{small_db['s1']}"})
    assert at.multiselect(key="compare.runs").value == [small_db["s0"], small_db["s1"]]
    warning = " ".join(item.value for item in at.warning)
    assert "'abc'" in warning and "#9999" in warning


def test_compare_groups_seeds_in_table_and_curves(small_db):
    ids = [small_db[name] for name in ("s0", "s1", "s2", "fast")]
    at = open_compare({"runs": ",".join(map(str, ids))})
    at.toggle(key="compare.group_seeds").set_value(True).run()
    table = at.dataframe[0].value
    loss = table[table["metric"] == "loss"]
    assert len(loss) == 2 and any("×3 seeds" in run for run in loss["run"])
    assert "±" in loss[loss["run"].str.contains("seeds")].iloc[0]["last"]
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert any(trace.get("fill") == "toself" for trace in spec["data"])  # the sd band
    assert any("×3 seeds" in trace.get("name", "") for trace in spec["data"])


def test_compare_draws_benchmarks_as_bars_and_scatters_a_parameter(small_db):
    at = open_compare({"runs": f"{small_db['bench']},{small_db['s0']},{small_db['fast']}"})
    at.multiselect(key=next(w.key for w in at.multiselect if w.key.startswith("compare.keys."))) \
        .set_value(["loss", "ratio"]).run()
    specs = [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]
    kinds = [{trace["type"] for trace in spec["data"]} for spec in specs]
    assert {"bar"} in kinds and {"scatter"} in kinds[:1]
    at.selectbox(key="compare.param_field").set_value("lr").run()
    at.selectbox(key="compare.param_metric").set_value("loss").run()
    scatter = json.loads(at.get("plotly_chart")[-1].proto.spec)
    assert sorted(scatter["data"][0]["x"]) == [0.1, 0.3]


def test_compare_epoch_axis_leaves_out_runs_without_epochs(small_db):
    at = open_compare({"runs": f"{small_db['s0']},{small_db['s1']}"})
    at.selectbox(key="compare.axis").set_value("epoch").run()
    assert any(f"#{small_db['s1']}" in item.value for item in at.caption)
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert spec["layout"]["xaxis"]["title"]["text"] == "epoch"


def test_run_page_curves_take_the_axis_and_smoothing_and_bench_runs_draw_bars(small_db):
    at = open_clean_page("run", {"run": str(small_db["s0"])})
    at.selectbox(key="run.axis").set_value("epoch").run()
    at.slider(key="run.smoothing").set_value(0.5).run()
    assert not at.exception and not at.error
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert spec["layout"]["xaxis"]["title"]["text"] == "epoch"
    assert any(trace.get("opacity") == 0.25 for trace in spec["data"])  # the raw line behind the smoothed
    at.selectbox(key="run.select").set_value(small_db["bench"]).run()
    assert not at.exception and not at.error
    bench = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert bench["data"][0]["type"] == "bar" and "configuration" in bench["layout"]["xaxis"]["title"]["text"]
    assert not [w for w in at.selectbox if w.key == "run.axis"] and not at.slider  # no time axis to smooth


def test_report_page_takes_its_runs_from_the_url(small_db):
    at = open_clean_page("report", {"runs": f"{small_db['s1']},{small_db['bench']}"})
    assert at.multiselect(key="report.runs").value == [small_db["s1"], small_db["bench"]]
