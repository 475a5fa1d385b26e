"""The paper's result tables from evaluation results: Table 2 and Table 3, as data and as text.

Runs are paired by training method ("without TASER" / "with TASER", read from each evaluation's
`run` block). Table 2 gives clean and robust-average accuracy with the Δ and its paired-bootstrap
95% CI; Table 3 gives clean / AutoAttack / SPSA accuracy and training time per sample. Rows are
plain dicts (accuracies as fractions) for JSON and CSV; Markdown and LaTeX show percentage points
as the paper does, with the paper's bold convention (robust Δ whose CI excludes 0, clean Δ whose
CI includes 0). Pure data and string rendering: no plotting, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from taser_engine import text_tables
from taser_engine.evaluation.bootstrap import (
    BOOTSTRAP_SEED, CONFIDENCE, N_BOOTSTRAP, DeltaCI, paired_bootstrap_delta,
)
from taser_engine.objectives import method_key, table2_order, table3_order
from taser_engine.objectives import method_title as objective_title
from taser_engine.evaluation.robust_average import ROBUST_AVERAGE_ATTACKS, robust_average

# Rows that are not a method; methods carry their own titles and table places (objectives/).
SUMMARY_TITLES = {"avg": "Avg.", "avg_excl_standard": "Avg. (excl. vanilla)"}
LAYOUTS = ("table2", "table3")
TABLE2_GROUPS = [("", 1), ("Clean acc.", 3), ("Robust acc. avg.", 3), ("", 1)]
TABLE2_COLUMNS = ["Method", "No TASER", "+TASER", "Δ", "No TASER", "+TASER", "Δ", "Overhead"]
_SIDE = ["Clean", "Robust (AA)", "Robust (SPSA)", "Runtime (ms/sample)"]
TABLE3_GROUPS = [("", 1), ("No TASER", 4), ("With TASER", 4), ("", 1)]
TABLE3_COLUMNS = ["Method", *_SIDE, *_SIDE, "Relative overhead"]
FORMATS = ("csv", "md", "latex")


class TableError(ValueError):
    """The evaluation results cannot be put in the requested table (named run, named reason)."""


def method_title(key: str) -> str:
    return SUMMARY_TITLES.get(key) or objective_title(key)


@dataclass(frozen=True)
class RunEval:
    """What the tables need from one evaluation result."""

    source: str
    method: str
    taser: bool
    fingerprint: str
    clean: np.ndarray
    per_attack: dict[str, np.ndarray]
    train_ms_per_sample: float | None = None
    # whole TASER step / its base part, timed within the same steps of this run (None without TASER)
    train_step_overhead: float | None = None

    def __post_init__(self):
        object.__setattr__(self, "method", method_key(self.method))

    @classmethod
    def from_json(cls, payload: dict, source: str) -> RunEval:
        run = payload.get("run") or {}
        if run.get("method") is None or run.get("taser") is None:
            raise TableError(f"{source}: the evaluation does not say its training method and whether TASER "
                             "was used (run.method, run.taser); re-run `taser evaluate` with --method and "
                             "--taser/--no-taser")
        try:
            per_sample = payload["per_sample"]
            arrays = {k: np.asarray(v, dtype=float) for k, v in per_sample.items()}
            fingerprint = payload["subset"]["fingerprint"]
        except (KeyError, TypeError) as exc:
            raise TableError(f"{source}: not a `taser evaluate` result (missing {exc})") from exc
        clean = arrays.pop("clean")
        return cls(source, str(run["method"]), bool(run["taser"]), fingerprint, clean, arrays,
                   run.get("train_ms_per_sample"), run.get("train_step_overhead"))

    def attack(self, name: str) -> np.ndarray:
        if name not in self.per_attack:
            raise TableError(f"{self.source}: no {name!r} result (the tables need autoattack and spsa; "
                             f"it has {sorted(self.per_attack)})")
        return self.per_attack[name]

    def robust_avg(self) -> np.ndarray:
        """Per point: the mean of AutoAttack and SPSA correctness (its mean is the paper's avg.)."""
        return robust_average({name: self.attack(name) for name in ROBUST_AVERAGE_ATTACKS})


@dataclass
class MethodPair:
    method: str
    without: RunEval | None = None
    with_: RunEval | None = None

    @property
    def complete(self) -> bool:
        return self.without is not None and self.with_ is not None


def pair_runs(runs: list[RunEval], order: list[str]) -> list[MethodPair]:
    pairs: dict[str, MethodPair] = {}
    for run in runs:
        pair = pairs.setdefault(run.method, MethodPair(run.method))
        slot = "with_" if run.taser else "without"
        if getattr(pair, slot) is not None:
            raise TableError(f"two runs for {method_title(run.method)} {'with' if run.taser else 'without'} "
                             f"TASER: {getattr(pair, slot).source} and {run.source}")
        setattr(pair, slot, run)
    for pair in pairs.values():
        if pair.complete and pair.without.fingerprint != pair.with_.fingerprint:
            raise TableError(f"{pair.without.source} and {pair.with_.source} were evaluated on different "
                             "subsets; paired confidence intervals need the same points (same dataset, "
                             "--n and subset seed)")
    rank = {m: i for i, m in enumerate(order)}
    return sorted(pairs.values(), key=lambda p: (rank.get(p.method, len(rank)), p.method))


@dataclass
class Table:
    layout: str
    title: str
    groups: list[tuple[str, int]]  # top header row: (title, number of columns)
    columns: list[str]
    cells: list[list[str]]  # display text, percentage points
    bold: list[list[bool]]
    rows: list[dict]  # data, accuracies as fractions
    note: str
    bootstrap: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return {"layout": self.layout, "title": self.title, "rows": self.rows, "note": self.note,
                "bootstrap": self.bootstrap}


def _pp(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.2f}"


def _delta_text(ci: DeltaCI | None) -> str:
    if ci is None:
        return "–"
    return f"{100 * ci.delta:+.2f} [{100 * ci.low:.2f}, {100 * ci.high:.2f}]"


OVERHEAD_NOTE = ("Overhead: the TASER run's whole training step over its base part, both timed within "
                 "the same steps of that run (one process, so machine load affects both alike); where a "
                 "run did not record that split, the ratio of the two runs' times per sample, marked †: "
                 "runs timed at different moments on a shared machine.")


def _overhead(pair: MethodPair) -> float | None:
    """The pair's TASER overhead: in-run when recorded, else the ratio of the two runs (see OVERHEAD_NOTE)."""
    if pair.with_ is not None and pair.with_.train_step_overhead:
        return pair.with_.train_step_overhead
    if not pair.complete or not pair.without.train_ms_per_sample or pair.with_.train_ms_per_sample is None:
        return None
    return pair.with_.train_ms_per_sample / pair.without.train_ms_per_sample


def _overhead_measured(pair: MethodPair) -> str | None:
    """How the pair's overhead was measured: "in-run", "two runs" (marked †) or None."""
    if _overhead(pair) is None:
        return None
    return "in-run" if pair.with_ is not None and pair.with_.train_step_overhead else "two runs"


def _overhead_text(row: dict) -> str:
    if row["overhead"] is None:
        return "–"
    return f"×{row['overhead']:.2f}" + ("†" if row.get("overhead_measured") == "two runs" else "")


def _mean(run: RunEval | None, scores) -> float | None:
    return None if run is None else float(np.mean(scores(run)))


# ---------------------------------------------------------------- Table 2

def _table2_row(key: str, pairs: list[MethodPair], bootstrap: dict) -> tuple[dict, list[str], list[bool]]:
    """One row; several pairs (the Avg. rows) are averaged over methods, the CI resampled jointly."""
    def side(attr, scores):
        runs = [getattr(p, attr) for p in pairs]
        return None if any(r is None for r in runs) else float(np.mean([np.mean(scores(r)) for r in runs]))

    def delta(scores):
        if not all(p.complete for p in pairs):
            return None
        return paired_bootstrap_delta(np.stack([scores(p.without) for p in pairs]),
                                      np.stack([scores(p.with_) for p in pairs]), **bootstrap)

    clean_scores, robust_scores = (lambda r: r.clean), (lambda r: r.robust_avg())
    clean_ci, robust_ci = delta(clean_scores), delta(robust_scores)
    overhead = _overhead(pairs[0]) if len(pairs) == 1 else None
    measured = _overhead_measured(pairs[0]) if len(pairs) == 1 else None
    row = {"method": key, "overhead_measured": measured, "clean_without": side("without", clean_scores), "clean_with": side("with_", clean_scores),
           "clean_delta": clean_ci and clean_ci.as_dict(),
           "robust_avg_without": side("without", robust_scores), "robust_avg_with": side("with_", robust_scores),
           "robust_avg_delta": robust_ci and robust_ci.as_dict(), "overhead": overhead}
    return (row, *_table2_display(row, clean_ci, robust_ci))


def _table2_display(row: dict, clean_ci: DeltaCI | None, robust_ci: DeltaCI | None) -> tuple[list[str], list[bool]]:
    cells = [method_title(row["method"]), _pp(row["clean_without"]), _pp(row["clean_with"]), _delta_text(clean_ci),
             _pp(row["robust_avg_without"]), _pp(row["robust_avg_with"]), _delta_text(robust_ci),
             _overhead_text(row)]
    bold = [False] * len(cells)
    bold[3] = clean_ci is not None and not clean_ci.excludes_zero
    bold[6] = robust_ci is not None and robust_ci.excludes_zero
    return cells, bold


def _same_subset(pairs: list[MethodPair]) -> bool:
    return len({r.fingerprint for p in pairs for r in (p.without, p.with_)}) == 1


def table2(runs: list[RunEval], *, n_boot: int = N_BOOTSTRAP, confidence: float = CONFIDENCE,
           seed: int = BOOTSTRAP_SEED) -> Table:
    bootstrap = {"n_boot": n_boot, "confidence": confidence, "seed": seed}
    pairs = pair_runs(runs, table2_order())
    groups_of_rows = [(p.method, [p]) for p in pairs]
    complete = [p for p in pairs if p.complete]
    if len(complete) >= 2 and _same_subset(complete):  # joint resampling needs the same points
        groups_of_rows.append(("avg", complete))
        rest = [p for p in complete if p.method != "standard"]
        if len(rest) >= 1 and len(rest) < len(complete):
            groups_of_rows.append(("avg_excl_standard", rest))
    built = [_table2_row(key, group, bootstrap) for key, group in groups_of_rows]
    return Table(
        layout="table2", title="Effect of TASER on clean and robust accuracy",
        groups=TABLE2_GROUPS, columns=TABLE2_COLUMNS,
        cells=[c for _, c, _ in built], bold=[b for _, _, b in built], rows=[r for r, _, _ in built],
        note=(f"Accuracies and changes in percentage points. Robust acc. avg. is the mean of AutoAttack and "
              f"SPSA accuracy. Brackets: paired bootstrap {confidence:.0%} CI over evaluation points "
              f"({n_boot} resamples). Bold: robust Δ different from zero; clean Δ not different from zero. "
              + OVERHEAD_NOTE),
        bootstrap=bootstrap)


# ---------------------------------------------------------------- Table 3

def _table3_row(pair: MethodPair) -> tuple[dict, list[str]]:
    def side(run: RunEval | None) -> dict:
        return {"clean": _mean(run, lambda r: r.clean), "autoattack": _mean(run, lambda r: r.attack("autoattack")),
                "spsa": _mean(run, lambda r: r.attack("spsa")),
                "train_ms_per_sample": None if run is None else run.train_ms_per_sample}

    row = {"method": pair.method, "without": side(pair.without), "with": side(pair.with_),
           "overhead": _overhead(pair), "overhead_measured": _overhead_measured(pair)}
    return row, _table3_display(row)


def _table3_display(row: dict) -> list[str]:
    def ms(value):
        return "–" if value is None else f"{value:.4f}"

    cells = [method_title(row["method"])]
    for s in (row["without"], row["with"]):
        cells += [_pp(s["clean"]), _pp(s["autoattack"]), _pp(s["spsa"]), ms(s["train_ms_per_sample"])]
    cells.append(_overhead_text(row))
    return cells


def table3(runs: list[RunEval]) -> Table:
    built = [_table3_row(p) for p in pair_runs(runs, table3_order())]
    return Table(
        layout="table3", title="Clean and robust accuracy, with runtime overhead from TASER",
        groups=TABLE3_GROUPS, columns=TABLE3_COLUMNS,
        cells=[c for _, c in built], bold=[[False] * len(c) for _, c in built], rows=[r for r, _ in built],
        note="Accuracies in percentage points. Runtime: training time per sample. " + OVERHEAD_NOTE)


def build_table(layout: str, runs: list[RunEval], **bootstrap) -> Table:
    if layout not in LAYOUTS:
        raise TableError(f"layout must be one of {', '.join(LAYOUTS)}, got {layout!r}")
    if not runs:
        raise TableError("no evaluation results given")
    return table2(runs, **bootstrap) if layout == "table2" else table3(runs)


# ---------------------------------------------------------------- the paper's own tables

def paper_table(layout: str) -> Table:
    """The paper's Table 2 or 3 (CIFAR-10, ResNet-18) in the same shape, for side-by-side reading."""
    from taser_engine.experiments.paper_tables import PAPER_TABLE2, PAPER_TABLE3

    if layout not in LAYOUTS:
        raise TableError(f"layout must be one of {', '.join(LAYOUTS)}, got {layout!r}")
    if layout == "table2":
        cells, bold, rows = [], [], []
        for r in PAPER_TABLE2:
            cis = [DeltaCI(r[f"{k}_delta_pp"] / 100, *(v / 100 for v in r[f"{k}_ci_pp"]), 0.95)
                   for k in ("clean", "robust")]
            row = {"method": r["method"], "clean_without": r["clean_without_pp"] / 100,
                   "clean_with": r["clean_with_pp"] / 100, "clean_delta": cis[0].as_dict(),
                   "robust_avg_without": r["robust_without_pp"] / 100,
                   "robust_avg_with": r["robust_with_pp"] / 100, "robust_avg_delta": cis[1].as_dict(),
                   "overhead": r["overhead"]}
            row_cells, row_bold = _table2_display(row, *cis)
            rows.append(row), cells.append(row_cells), bold.append(row_bold)
        return Table("table2", "Paper Table 2 (CIFAR-10, ResNet-18)", TABLE2_GROUPS, TABLE2_COLUMNS,
                     cells, bold, rows, "As printed in the paper; percentage points.")
    rows = [{"method": r["method"], "overhead": r["overhead"],
             **{side: {"clean": r[f"clean_{side}_pp"] / 100, "autoattack": r[f"aa_{side}_pp"] / 100,
                       "spsa": r[f"spsa_{side}_pp"] / 100, "train_ms_per_sample": r[f"ms_per_sample_{side}"]}
                for side in ("without", "with")}}
            for r in PAPER_TABLE3]
    cells = [_table3_display(row) for row in rows]
    return Table("table3", "Paper Table 3 (CIFAR-10, ResNet-18)", TABLE3_GROUPS, TABLE3_COLUMNS,
                 cells, [[False] * len(c) for c in cells], rows, "As printed in the paper; percentage points.")


# ---------------------------------------------------------------- rendering

def _flat(prefix: str, value) -> dict:
    if isinstance(value, dict):
        return {k: v for key, sub in value.items() for k, v in _flat(f"{prefix}_{key}" if prefix else key, sub).items()}
    return {prefix: value}


def to_csv(table: Table) -> str:
    """One row per method, every number a column; accuracies as fractions."""
    return text_tables.to_csv([{k: f"{v:.10g}" if isinstance(v, float) else v for k, v in _flat("", row).items()}
                               for row in table.rows])  # 10 significant digits: no 0.7787999999999999 from pp / 100


def _group_prefixed_columns(table: Table) -> list[str]:
    names, i = [], 0
    for group, width in table.groups:
        for column in table.columns[i:i + width]:
            names.append(f"{group}: {column}" if group else column)
        i += width
    return names


def to_markdown(table: Table) -> str:
    body = [[f"**{c}**" if b else c for c, b in zip(cells, bold)] for cells, bold in zip(table.cells, table.bold)]
    return text_tables.markdown_grid(_group_prefixed_columns(table), body, numeric=True) + f"\n{table.note}\n"


def to_latex(table: Table) -> str:
    """A `table` environment with booktabs rules (\\usepackage{booktabs})."""
    escape = text_tables.latex_escape
    top = " & ".join(rf"\multicolumn{{{w}}}{{c}}{{{escape(g)}}}" if g else " & " * (w - 1) for g, w in table.groups)
    body = [text_tables.latex_row([rf"\textbf{{{escape(c)}}}" if b else escape(c) for c, b in zip(cells, bold)])
            for cells, bold in zip(table.cells, table.bold)]
    return text_tables.latex_grid("l" + "r" * (len(table.columns) - 1),
                                  [top + r" \\", text_tables.latex_row([escape(c) for c in table.columns])], body,
                                  caption=f"{table.title}. {table.note}", caption_above=True)


RENDERERS = {"csv": to_csv, "md": to_markdown, "latex": to_latex}


def render(table: Table, fmt: str) -> str:
    if fmt not in RENDERERS:
        raise TableError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    return RENDERERS[fmt](table)
