"""Result rows the pages and the report share: pure functions from stored run summaries to tables.

Evaluation summaries follow `taser evaluate --json` ({"n", "clean_acc", "robust": {...},
"robust_avg", "per_sample": {"clean": [0/1...], attack: [0/1...]}, "flags": [...]}), the fields
of the evaluate job's Result; `accuracies_from_rows` gives the accuracy part of that shape from
stored evaluation rows (one per attack). Overhead summaries follow `taser bench overhead --json`
({"rows": [...]}).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from app.figures.robustness import bootstrap_interval


def accuracies_from_rows(rows: Sequence[Mapping]) -> dict[int, dict]:
    """Per run: {"n", "clean_acc", "robust", "robust_avg", "per_sample"} from its stored evaluation
    rows (`db.store.add_evaluation` fields), in the shape `robustness_rows` reads."""
    runs: dict[int, dict] = {}
    for row in rows:
        run = runs.setdefault(row["run_id"], {"n": row["n"], "clean_acc": row["clean_accuracy"],
                                              "robust": {}, "per_sample": {}})
        run["robust"][row["attack"]] = row["robust_accuracy"]
        run["per_sample"].update(row.get("per_sample") or {})
    for run in runs.values():
        robust = run["robust"]
        both = [robust.get("autoattack"), robust.get("spsa")]
        run["robust_avg"] = sum(both) / 2 if None not in both else None  # the paper's "robust acc. avg."
    return runs


def in_run_overhead(ms_per_sample: float | None, ms_per_sample_without_penalty: float | None,
                    penalty_ms_per_sample: float | None) -> float | None:
    """TASER's whole step over its base part, both timed inside the same steps of one run (the
    honest overhead on a shared machine; a ratio of two runs also divides their machines' load).
    None for a run without the penalty."""
    if not ms_per_sample or not ms_per_sample_without_penalty or not penalty_ms_per_sample:
        return None
    return ms_per_sample / ms_per_sample_without_penalty


def robustness_rows(labelled: Sequence[tuple[str, Mapping]]) -> tuple[list[dict], list[dict]]:
    """(table rows with 95% bootstrap CIs, bar-chart rows) for evaluation summaries."""
    table, bars = [], []
    for label, summary in labelled:
        per_sample = summary.get("per_sample") or {}
        values = {"clean": summary.get("clean_acc")}
        values.update(summary.get("robust") or {})
        if summary.get("robust_avg") is not None:
            values["robust avg."] = summary["robust_avg"]
        intervals = {}
        for column in values:
            key = "clean" if column == "clean" else column
            vector = per_sample.get(key)
            if column == "robust avg." and "autoattack" in per_sample and "spsa" in per_sample:
                vector = [(a + b) / 2 for a, b in zip(per_sample["autoattack"], per_sample["spsa"])]
            if vector:
                intervals[column] = bootstrap_interval(vector)
        row = {"run": label, "n": summary.get("n")}
        for column, value in values.items():
            low, high = intervals.get(column, (None, None))
            row[column] = _percent(value)
            row[f"{column} 95% CI"] = f"[{_percent(low)}, {_percent(high)}]" if low is not None else "—"
        flags = summary.get("flags") or []
        raised = [flag.get("name", "flag") for flag in flags if isinstance(flag, Mapping) and flag.get("raised")]
        row["gradient-masking flags"] = ", ".join(raised) if raised else "none raised"
        table.append(row)
        bars.append({"label": label, "values": values, "ci": intervals})
    return table, bars


def masking_details(labelled: Sequence[tuple[str, Mapping]]) -> list[dict]:
    rows = []
    for label, summary in labelled:
        for flag in summary.get("flags") or []:
            if isinstance(flag, Mapping):
                rows.append({"run": label, **{key: _text(value) for key, value in flag.items()}})
    return rows


# What a benchmark row is compared with: the same step, but for its Laplacian term.
PENALTY_CASE = ("model", "activation", "batchnorm", "device", "method", "fraction")
WHOLE_STEP_CASE = ("model", "device", "method", "score", "batchnorm")
SECOND_ORDER = {"hutchinson": "Hutchinson", "exact": "exact-Laplacian"}


def timing_warnings(rows: Sequence[Mapping], case: Sequence[str] = PENALTY_CASE) -> list[str]:
    """Per row, why its timing cannot be right ("" when nothing is off): a step with TASER timed
    faster than the same step without it, or a second-order (Laplacian) step timed cheaper than
    the first-order step of the same case, which does strictly less work. Either means noise (a
    busy machine, too few repeats), not a finding."""
    def key(row: Mapping) -> tuple:
        return tuple(row.get(field) for field in case)

    first_order = {key(row): row for row in rows if row.get("laplacian") == "none" and row.get("score") != "none"}
    warnings = []
    for row in rows:
        found = []
        if row.get("score") != "none" and row["ratio"] < 1:
            found.append(f"with TASER timed faster than without (×{row['ratio']:.2f})")
        base = first_order.get(key(row)) if row.get("laplacian") in SECOND_ORDER else None
        if base is not None and row["ms_per_sample"] < base["ms_per_sample"]:
            within = row.get("ms_per_sample_max", 0) >= base.get("ms_per_sample_min", float("inf"))
            found.append(f"{SECOND_ORDER[row['laplacian']]} step timed cheaper than first-order "
                         f"({row['ms_per_sample']:.3g} vs {base['ms_per_sample']:.3g} ms/sample"
                         f"{', within the spread over repeats' if within else ''})")
        warnings.append("; ".join(found))
    return warnings


def overhead_table(rows: Sequence[Mapping]) -> list[dict]:
    return [{"model": row["model"], "activation": row.get("activation", "relu"),
             "BatchNorm": row.get("batchnorm", "train"), "device": row["device"],
             "method": row["method"], "laplacian": row["laplacian"], "K": row.get("num_probes"),
             "share of batch": row.get("fraction", 1.0), "warning": warning,
             "ms/sample (plain)": row["plain_ms_per_sample"], "ms/sample (TASER)": row["ms_per_sample"],
             "ratio": row["ratio"], "ratio min": row.get("ratio_min"), "ratio max": row.get("ratio_max"),
             "residual rel. error": row.get("rel_error"),
             "gradient rel. error": row.get("grad_rel_error")}
            for row, warning in zip(rows, timing_warnings(rows, PENALTY_CASE))]


def train_step_table(rows: Sequence[Mapping]) -> list[dict]:
    """Whole-step rows as the Overhead page and exports show them: ratios beside the paper's."""
    return [{"model": row["model"], "device": row["device"], "method": row["method"], "score": row["score"],
             "laplacian": row["laplacian"] or "–", "penalty BN statistics": penalty_batchnorm(row) or "–",
             "warning": warning, "batch": row["batch_size"],
             "attack steps": row["num_steps"], "ms/sample": row["ms_per_sample"],
             "ms/sample min": row["ms_per_sample_min"], "ms/sample max": row["ms_per_sample_max"],
             "ratio": row["ratio"], "ratio min": row["ratio_min"], "ratio max": row["ratio_max"],
             "paper ratio": row["paper_ratio"]}
            for row, warning in zip(rows, timing_warnings(rows, WHOLE_STEP_CASE))]


def penalty_batchnorm(row: Mapping) -> str | None:
    """How a whole-step row's penalty pass normalised (penalty.batchnorm): None for the step
    without TASER; rows measured before the option had it: running."""
    return None if row["score"] == "none" else (row.get("batchnorm") or "running")


def _percent(value) -> str | None:
    return None if value is None else f"{100 * value:.1f}%"


def _text(value) -> str:
    return value if isinstance(value, str) else repr(value)
