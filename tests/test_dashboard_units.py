"""Unit tests of the dashboard's pure parts: figure builders, tables, forms, presets, report, demo."""

from __future__ import annotations

import csv
import io
import math
from typing import Literal

import pytest
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from app.dashboard.forms import error_messages, field_specs, list_to_text, text_to_list, text_to_optional
from app.dashboard.presets import DEFAULTS, apply_preset, presets_for
from app.dashboard.views.compare import config_diff
from app.figures.alignment import alignment_histograms, score_field_figure
from app.figures.curves import group_keys, metric_curves
from app.figures.extrapolation import error_vs_lambda, predictions_figure, single_fit_figure
from app.figures.overhead import overhead_figure
from app.figures.robustness import accuracy_bars, bootstrap_interval
from app.results import robustness_rows
from app.table1 import ood_pairs, table1_check, table1_rows
from taser_engine import text_tables

STUDY_ROWS = [
    {"regulariser": "l2", "lambda": 0.0, "id_mse_mean": 1e-4, "id_mse_std": 1e-5, "ood_mse_mean": 1.3,
     "ood_mse_std": 0.2, "seeds": [0, 1]},
    {"regulariser": "l2", "lambda": 0.01, "id_mse_mean": 1e-2, "id_mse_std": 1e-3, "ood_mse_mean": 1.2,
     "ood_mse_std": 0.1, "seeds": [0, 1]},
    {"regulariser": "stein", "lambda": 0.01, "id_mse_mean": 6e-4, "id_mse_std": 1e-4, "ood_mse_mean": 2.0,
     "ood_mse_std": 0.3, "seeds": [0, 1]},
]
PAPER_T1 = [{"lambda": 0.0, "l2_id": 4.19e-05, "l2_ood": 1.267, "stein_id": None, "stein_ood": None},
            {"lambda": 1e-2, "l2_id": 1.29e-02, "l2_ood": 1.158, "stein_id": 5.95e-04, "stein_ood": 1.336}]


def test_metric_curves_one_panel_per_key_one_line_per_run():
    series = {"run a": {"loss": [(1, 2.0), (2, 1.0)], "lr": [(1, 0.1)]}, "run b": {"loss": [(1, 3.0)]}}
    fig = metric_curves(series, ["loss", "lr"])
    names = [(trace.name, len(trace.x)) for trace in fig.data]
    assert names == [("run a", 2), ("run a", 1), ("run b", 1)]
    assert [a.text for a in fig.layout.annotations] == ["loss", "lr"]
    assert metric_curves(series, []).data == ()


def test_group_keys_sorts_metric_families():
    groups = group_keys(["loss/base", "loss/taser", "lambda", "lr", "stein_r_var", "clean_acc", "x"])
    assert groups == {"loss": ["loss/base", "loss/taser"], "schedule": ["lambda", "lr"],
                      "stein": ["stein_r_var"], "accuracy": ["clean_acc"], "other": ["x"]}


def test_extrapolation_figures():
    x = [-2.0, 0.0, 2.0]
    curves = {"x": x, "truth": [math.sin(v) for v in x], "density": [0.05, 0.4, 0.05],
              "predictions": [{"regulariser": "l2", "lambda": 0.0, "mean": [0, 0, 0]},
                              {"regulariser": "stein", "lambda": 0.01, "mean": [1, 0, -1]}]}
    fig = predictions_figure(curves)
    assert [trace.name for trace in fig.data if trace.showlegend is not False] == [
        "training density (scaled)", "true function", "L2 λ=0", "Stein λ=0.01"]
    baseline, band = fig.data[0], fig.data[1]
    assert band.fill == "tonexty" and baseline.y[0] < min(curves["truth"]) and min(band.y) > baseline.y[0]
    fig = error_vs_lambda(STUDY_ROWS, PAPER_T1)
    ours_l2_ood = next(t for t in fig.data if t.name == "ours L2" and t.xaxis == "x2")
    assert list(ours_l2_ood.y) == [1.3, 1.2] and list(ours_l2_ood.error_y.array) == [0.2, 0.1]
    assert list(ours_l2_ood.x)[0] > 0  # λ = 0 is moved onto the log axis
    paper_stein = [t for t in fig.data if t.name == "paper Stein"]
    assert [list(t.y) for t in paper_stein] == [[5.95e-04], [1.336]]  # the None at λ = 0 is left out
    assert fig.layout.xaxis.type == "log" and fig.layout.yaxis.type == "log"
    single = single_fit_figure({"grid": x, "truth": [0, 0, 0], "prediction": [0, 1, 0], "x_train": [0.5],
                                "regulariser": "stein", "lam": 0.01, "id_mse": 0.1, "ood_mse": 0.2})
    assert list(single.data[2].y) == [0.0] and "0.1" in single.layout.title.text


def test_table1_rows_and_paper_check():
    rows = table1_rows(STUDY_ROWS, PAPER_T1)
    stein = next(row for row in rows if row["regulariser"] == "Stein")
    assert stein["OOD MSE (paper)"] == "1.34" and stein["OOD MSE (ours)"].startswith("2 ±")
    check = {row["λ"]: row["Stein OOD < L2 OOD?"] for row in table1_check(STUDY_ROWS, PAPER_T1)}
    assert check[0.01].startswith("reproduces")  # neither paper (1.336 > 1.158) nor ours (2.0 > 1.2)
    assert "no Stein cell" in check[0.0]
    flipped = [dict(row, ood_mse_mean=0.5) if row["regulariser"] == "stein" else row for row in STUDY_ROWS]
    assert table1_check(flipped, PAPER_T1)[1]["Stein OOD < L2 OOD?"].startswith("differs")
    assert table1_check([], PAPER_T1)[1]["Stein OOD < L2 OOD?"] == "not run yet"


def test_overhead_figure_draws_plain_and_taser_bars():
    rows = [{"model": "small_cnn", "device": "cpu", "method": m, "laplacian": "none", "num_probes": 1,
             "ms_per_sample": t, "plain_ms_per_sample": 1.0, "ratio": t} for m, t in (("jvp", 1.8), ("fd", 1.5))]
    fig = overhead_figure(rows)
    by_name = {trace.name: list(trace.x) for trace in fig.data}
    assert by_name == {"without TASER": [1.0, 1.0], "with TASER": [1.8, 1.5], "ratio": [1.8, 1.5]}


def test_bootstrap_interval_known_cases():
    assert bootstrap_interval([1] * 50) == (1.0, 1.0)
    low, high = bootstrap_interval([0, 1] * 200)
    # binomial standard error at p = 0.5, n = 400 is 0.025: the 95% interval is about ±0.049
    assert 0.44 < low < 0.47 and 0.53 < high < 0.56


def test_robustness_rows_and_bars():
    summary = {"n": 4, "clean_acc": 0.75, "robust": {"autoattack": 0.25, "spsa": 0.5}, "robust_avg": 0.375,
               "per_sample": {"clean": [1, 1, 1, 0], "autoattack": [1, 0, 0, 0], "spsa": [1, 1, 0, 0]},
               "flags": [{"name": "black_box_beats_white_box", "raised": True, "checked": True, "detail": "x"}]}
    table, bars = robustness_rows([("run 1", summary)])
    assert table[0]["clean"] == "75.0%" and table[0]["robust avg."] == "37.5%"
    assert table[0]["gradient-masking flags"] == "black_box_beats_white_box"
    assert set(bars[0]["ci"]) == {"clean", "autoattack", "spsa", "robust avg."}
    fig = accuracy_bars(bars)
    clean = next(trace for trace in fig.data if trace.name == "clean")
    assert list(clean.y) == [75.0] and clean.error_y.array[0] >= 0


def test_score_field_and_alignment_figures():
    field = {"grid_x": [0.0, 1.0, 0.0, 1.0], "grid_y": [0.0, 0.0, 1.0, 1.0],
             "score": [[1, 0], [0, 1], [-1, 0], [0, -1]],
             "panels": [{"title": "without TASER", "grad": [[0, 1]] * 4, "cosine_mean": 0.1},
                        {"title": "with TASER", "grad": [[1, 0]] * 4, "cosine_mean": 0.9}]}
    fig = score_field_figure(field)
    assert len(fig.data) == 4 and "0.90" in fig.layout.annotations[1].text
    hist = alignment_histograms({"a": {"cosine": [0.1, 0.2], "abs_directional": [1.0, 10.0]}})
    assert list(hist.data[1].x) == [0.0, 1.0]  # log10 of |sᵀ∇f|


def test_config_diff_lists_only_differences():
    diff = config_diff({"a": {"lr": 0.1, "steps": 5, "penalty": {"k": 1}},
                        "b": {"lr": 0.3, "steps": 5, "penalty": {"k": 2}, "extra": True}})
    assert [row["field"] for row in diff] == ["extra", "lr", "penalty.k"]
    assert diff[1] == {"field": "lr", "a": "0.1", "b": "0.3"}


def test_tables_render_every_format():
    rows = [{"method": "pgd_awp", "clean": 0.5, "note": None}, {"method": "a|b", "clean": 1.0, "note": "x"}]
    parsed = list(csv.DictReader(io.StringIO(text_tables.to_csv(rows))))
    assert parsed[0] == {"method": "pgd_awp", "clean": "0.5", "note": ""}
    markdown = text_tables.to_markdown(rows)
    assert markdown.splitlines()[0] == "| method | clean | note |" and "a\\|b" in markdown
    latex = text_tables.to_latex(rows, caption="t")
    assert r"pgd\_awp & 0.5 & — \\" in latex and latex.count(r"\\") == 3
    assert "<td>pgd_awp</td>" in text_tables.to_html(rows)


class _Inner(BaseModel):
    model_config = ConfigDict(extra="forbid")
    k: int = Field(1, ge=1)


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid")
    steps: int = Field(10, ge=1)
    lr: float = 0.1
    flag: bool = False
    mode: Literal["a", "b"] = "a"
    lambdas: list[float] = [0.0, 1e-3]
    limit: int | None = None
    source: str = Field(..., description="required")
    inner: _Inner = Field(default_factory=_Inner)


def test_field_specs_pick_widgets_from_types():
    specs = {spec.name: spec for spec in field_specs(_Config)}
    assert {name: spec.widget for name, spec in specs.items()} == {
        "steps": "int", "lr": "float", "flag": "checkbox", "mode": "select", "lambdas": "list",
        "limit": "optional", "source": "text", "inner": "model"}
    assert specs["mode"].options == ["a", "b"] and specs["lambdas"].inner == "float"
    assert specs["limit"].inner == "int" and specs["source"].required
    assert specs["inner"].default == {"k": 1} and specs["inner"].children[0].name == "k"


def test_form_values_validate_through_pydantic():
    raw = {"steps": 0, "lambdas": text_to_list(list_to_text([0.0, 1e-3]) + ", abc"), "limit": text_to_optional(""),
           "source": "x", "inner": {"k": 0}}
    with pytest.raises(ValidationError) as caught:
        _Config.model_validate(raw)
    problems = error_messages(caught.value)
    assert set(problems) == {"steps", "lambdas", "inner.k"}
    ok = _Config.model_validate({**raw, "steps": 3, "lambdas": ["0", "1e-3"], "inner": {"k": 2}})
    assert ok.lambdas == [0.0, 1e-3] and ok.limit is None


def test_presets_apply_only_known_fields():
    assert list(presets_for("count"))[0] == DEFAULTS
    values, unknown = apply_preset(_Config, {"steps": 3, "nope": 1})
    assert values["steps"] == 3 and values["inner"] == {"k": 1} and unknown == ["nope"]
    assert "source" not in values  # required fields have no default to prefill


def test_paper_vs_ours_pairs_every_reported_cell():
    from app.figures.paper import paper_vs_ours

    pairs = ood_pairs(STUDY_ROWS, PAPER_T1)
    assert pairs == [{"label": "L2 λ=0", "paper": 1.267, "ours": 1.3}, {"label": "L2 λ=0.01", "paper": 1.158, "ours": 1.2},
                     {"label": "Stein λ=0.01", "paper": 1.336, "ours": 2.0}]
    fig = paper_vs_ours(pairs, title="t", value_label="v")
    assert [list(trace.y) for trace in fig.data] == [[1.267, 1.158, 1.336], [1.3, 1.2, 2.0]]


def test_field2d_residual_and_score_are_exact():
    import torch

    from taser_engine import stein_residual
    from taser_engine.field2d import Field2DConfig, _mlp, mixture_score, sample, stein_residual_2d
    from taser_engine.probes import logit_margin

    config = Field2DConfig(n_train=32)
    x, y = sample(config, torch.Generator().manual_seed(0))
    x = x.double()
    # the closed-form mixture score equals autograd of log p
    means = torch.tensor([[-config.separation, 0.0], [config.separation, 0.0]], dtype=x.dtype)
    z = x.clone().requires_grad_(True)
    log_p = torch.logsumexp(-((z[:, None, :] - means) ** 2).sum(-1) / (2 * config.sigma**2), dim=1)
    (reference,) = torch.autograd.grad(log_p.sum(), z)
    assert torch.allclose(mixture_score(x, config), reference, atol=1e-10)
    # the fast 2D residual equals the general exact estimator
    torch.manual_seed(0)
    model = _mlp(8).double()
    score = mixture_score(x, config)
    fast = stein_residual_2d(model, x, y, score)
    general = stein_residual(lambda v: logit_margin(model(v), y), x, score, laplacian="exact", method="autograd")
    assert torch.allclose(fast, general, atol=1e-10)


def test_overhead_figure_keeps_fractions_and_activations_apart():
    base = {"device": "cpu", "method": "jvp", "laplacian": "none", "num_probes": 1, "plain_ms_per_sample": 1.0}
    rows = [{**base, "model": "resnet18", "fraction": 1.0, "ms_per_sample": 3.0, "ratio": 3.0},
            {**base, "model": "resnet18", "fraction": 0.5, "ms_per_sample": 2.0, "ratio": 2.0},
            {**base, "model": "resnet18", "activation": "silu", "fraction": 1.0, "ms_per_sample": 4.0, "ratio": 4.0},
            {**base, "model": "resnet18", "batchnorm": "frozen", "fraction": 1.0, "ms_per_sample": 2.0, "ratio": 2.0}]
    fig = overhead_figure(rows)
    ratios = [trace for trace in fig.data if trace.name == "ratio"]
    assert len(ratios) == 3  # one panel per model, activation and BatchNorm regime
    labels = sorted(label for trace in ratios for label in trace.y)
    assert labels == ["jvp · none"] * 3 + ["jvp · none · 0.5 of batch"]
    titles = " | ".join(annotation.text for annotation in fig.layout.annotations)
    assert "resnet18 (silu)" in titles and "resnet18 (frozen BN)" in titles


def test_a_pair_is_read_however_a_user_writes_it():
    from app.jobs import validate_config

    for text in ("10, 100", "(10, 100)", "[10, 100]", "10 100"):
        assert text_to_list(text) == ["10", "100"]
        assert validate_config("evaluate", {"model_run": 1, "iteration_check": text_to_list(text)}).iteration_check == (10, 100)
