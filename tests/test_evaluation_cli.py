"""`taser evaluate` and `taser table` end to end, and the table builders and renderers."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest

from app import cli
from evaluation_fixtures import save_run, train_digits_mlp

pytestmark = pytest.mark.usefixtures("one_thread")
from taser_engine.evaluation.tables import RunEval, TableError, build_table, paper_table, render

QUICK_FLAGS = ["--n", "40", "--spsa-nb-iter", "8", "--spsa-nb-sample", "8", "--spsa-lr", "0.02",
               "--iteration-check", "none", "--batch-size", "40", "--quiet"]


@pytest.fixture
def taser_cli():
    return cli.main


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    return {
        "standard": save_run(root / "standard", train_digits_mlp(seed=0), method="standard", taser=False,
                             ms_per_sample=0.02),
        # Stand-in for a TASER run (the tables only read the run's recorded flags): noise-trained.
        "taser": save_run(root / "taser", train_digits_mlp(seed=1, noise=0.2), method="standard", taser=True,
                          ms_per_sample=0.05),
    }


def test_evaluate_writes_the_contract_and_table_builds_both_layouts(taser_cli, runs, tmp_path, capsys):
    outputs = {}
    for name, run_dir in runs.items():
        outputs[name] = tmp_path / f"{name}.json"
        assert taser_cli(["evaluate", "--model", str(run_dir), "--attacks", "autoattack,spsa",
                          *QUICK_FLAGS, "--json", str(outputs[name])]) == 0
    payload = json.loads(outputs["standard"].read_text())
    assert {"n", "clean_acc", "robust", "robust_avg", "per_sample", "flags", "subset", "run"} <= set(payload)
    assert set(payload["robust"]) == {"autoattack", "spsa"} and payload["n"] == 40
    assert payload["robust_avg"] == pytest.approx((payload["robust"]["autoattack"] + payload["robust"]["spsa"]) / 2)
    assert payload["clean_acc"] == pytest.approx(np.mean(payload["per_sample"]["clean"]))
    assert payload["robust"]["spsa"] == pytest.approx(np.mean(payload["per_sample"]["spsa"]))
    assert payload["run"]["method"] == "standard" and payload["run"]["taser"] is False
    assert payload["run"]["train_ms_per_sample"] == 0.02
    assert payload["attacks"]["autoattack"]["is_autoattack"]
    other = json.loads(outputs["taser"].read_text())
    assert other["subset"]["indices"] == payload["subset"]["indices"]  # the same points for every run
    capsys.readouterr()

    table_json = tmp_path / "table2.json"
    assert taser_cli(["table", "--runs", str(outputs["standard"]), str(outputs["taser"]), "--layout", "table2",
                      "--format", "md", "--n-boot", "500", "--json", str(table_json)]) == 0
    markdown = capsys.readouterr().out
    assert "| Vanilla |" in markdown and "[" in markdown and "×2.50" in markdown
    row = json.loads(table_json.read_text())["rows"][0]
    expected = other["robust_avg"] - payload["robust_avg"]
    assert row["robust_avg_delta"]["delta"] == pytest.approx(expected)
    assert row["robust_avg_delta"]["low"] <= expected <= row["robust_avg_delta"]["high"]

    assert taser_cli(["table", "--runs", str(outputs["taser"]), str(outputs["standard"]), "--layout", "table3",
                      "--format", "csv"]) == 0
    (record,) = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert float(record["without_autoattack"]) == pytest.approx(payload["robust"]["autoattack"])
    assert float(record["with_spsa"]) == pytest.approx(other["robust"]["spsa"])
    assert float(record["overhead"]) == pytest.approx(2.5)


def test_cli_user_errors_are_one_line(taser_cli, runs, tmp_path, capsys):
    assert taser_cli(["evaluate", "--model", str(tmp_path / "missing"), "--quiet"]) == 2
    assert "model.safetensors" in capsys.readouterr().err
    assert taser_cli(["evaluate", "--model", str(runs["standard"]), "--attacks", "fgsm", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "attacks" in err and "Traceback" not in err
    assert taser_cli(["evaluate", "--model", str(runs["standard"]), "--n", "0", "--eps-linf", "-1", "--quiet"]) == 2
    err = capsys.readouterr().err  # every bad field is named, not just the first
    assert "n_eval" in err and "eps_linf" in err and "Traceback" not in err
    unlabelled = tmp_path / "unlabelled.json"
    unlabelled.write_text(json.dumps({"run": {}, "per_sample": {"clean": [1]}, "subset": {"fingerprint": "x"}}))
    assert taser_cli(["table", "--runs", str(unlabelled)]) == 2
    assert "--taser" in capsys.readouterr().err


# ---------------------------------------------------------------- tables from synthetic results

def synthetic(method: str, taser: bool, clean, aa, spsa, fingerprint="f", ms=None) -> RunEval:
    arrays = {k: np.asarray(v, dtype=float) for k, v in (("autoattack", aa), ("spsa", spsa))}
    return RunEval(f"{method}-{taser}", method, taser, fingerprint, np.asarray(clean, dtype=float), arrays, ms)


def test_table2_pairs_by_method_averages_and_marks_significance():
    n = 400
    ones, zeros = np.ones(n), np.zeros(n)
    half = np.r_[np.ones(n // 2), np.zeros(n // 2)]
    runs = [synthetic("standard", False, ones, zeros, zeros, ms=1.0), synthetic("standard", True, ones, half, ones, ms=2.0),
            synthetic("TRADES + AWP", False, half, zeros, half), synthetic("trades_awp", True, half, zeros, half)]
    table = build_table("table2", runs, n_boot=1000)
    by_method = {r["method"]: r for r in table.rows}
    assert list(by_method) == ["standard", "trades_awp", "avg", "avg_excl_standard"]
    assert by_method["standard"]["robust_avg_delta"]["delta"] == pytest.approx(0.75)
    assert by_method["standard"]["overhead"] == pytest.approx(2.0)
    assert by_method["trades_awp"]["robust_avg_delta"]["delta"] == 0.0
    assert by_method["avg"]["robust_avg_delta"]["delta"] == pytest.approx(0.375)
    assert by_method["avg"]["clean_without"] == pytest.approx(0.75)
    markdown = render(table, "md")
    assert "**+75.00 [" in markdown  # significant robust gain in bold
    assert "**+0.00 [0.00, 0.00]**" in markdown  # clean Δ indistinguishable from zero in bold
    latex = render(table, "latex")
    assert r"\begin{tabular}{lrrrrrrr}" in latex and r"\textbf{" in latex and "TRADES + AWP" in latex


def test_tables_refuse_what_cannot_be_paired():
    a = synthetic("pgd", False, [1, 0], [0, 0], [1, 0], fingerprint="one")
    b = synthetic("pgd", True, [1, 1], [1, 0], [1, 0], fingerprint="two")
    with pytest.raises(TableError, match="different subsets"):
        build_table("table2", [a, b])
    with pytest.raises(TableError, match="two runs"):
        build_table("table3", [a, a])
    no_spsa = RunEval("x", "pgd", False, "one", np.ones(2), {"autoattack": np.ones(2)})
    with pytest.raises(TableError, match="spsa"):
        build_table("table2", [no_spsa])


def test_the_papers_tables_are_consistent_and_render():
    from taser_engine.experiments.paper_tables import PAPER_INCONSISTENT_ROWS, PAPER_TABLE2, PAPER_TABLE3

    t3 = {r["method"]: r for r in PAPER_TABLE3}
    for row in PAPER_TABLE2:
        if row["method"] in t3:  # Table 2's robust avg. is the mean of Table 3's AA and SPSA ...
            for side in ("without", "with"):
                mean = (t3[row["method"]][f"aa_{side}_pp"] + t3[row["method"]][f"spsa_{side}_pp"]) / 2
                consistent = row[f"robust_{side}_pp"] == pytest.approx(mean, abs=0.006)
                # ... except in the one place the paper itself disagrees with itself.
                assert consistent != (PAPER_INCONSISTENT_ROWS.get(row["method"]) == side)
        assert row["clean_delta_pp"] == pytest.approx(row["clean_with_pp"] - row["clean_without_pp"], abs=0.011)
    methods = [r for r in PAPER_TABLE2 if r["method"] in t3]
    avg = next(r for r in PAPER_TABLE2 if r["method"] == "avg")
    assert avg["clean_without_pp"] == pytest.approx(np.mean([r["clean_without_pp"] for r in methods]), abs=0.01)
    assert "| Vanilla | 77.88 | 70.92 | **-6.96 [-8.15, -5.75]**" not in render(paper_table("table2"), "md")
    assert "| Vanilla | 77.88 | 70.92 | -6.96 [-8.15, -5.75] | 3.00 | 19.25 | **+16.25 [14.40, 18.10]** | ×2.45 |" \
        in render(paper_table("table2"), "md")
    assert "MART + AWP" in render(paper_table("table3"), "latex")
