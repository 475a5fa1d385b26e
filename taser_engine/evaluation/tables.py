"""The paper's result tables from evaluation results: Table 2 and Table 3, as data and as text.

Runs are paired by training method ("without TASER" / "with TASER", read from each evaluation's
`run` block) and, when runs carry a seed (a study's cells), by seed. Table 2 gives clean and
robust-average accuracy with the Δ and its bootstrap 95% CI: over evaluation points for one seed
(`paired_bootstrap_delta`), over seeds and points for several (`seed_point_bootstrap_delta`);
Table 3 gives clean / AutoAttack / SPSA accuracy and training time per sample, means over seeds. Rows are
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
from taser_engine.evaluation.seed_bootstrap import mean_and_sd, seed_point_bootstrap_delta
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
    seed: int | None = None  # a study's training seed: runs pair by seed as well as by method

    def __post_init__(self):
        object.__setattr__(self, "method", method_key(self.method))

    @classmethod
    def from_json(cls, payload: dict, source: str, *, seed: int | None = None) -> RunEval:
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
                   run.get("train_ms_per_sample"), run.get("train_step_overhead"), seed)

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
    """One method's runs without and with TASER, in seed order; seed s of one side pairs with seed
    s of the other (they share data order and initialisation)."""

    method: str
    without: list[RunEval] = field(default_factory=list)
    with_: list[RunEval] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return bool(self.without) and bool(self.with_)

    @property
    def seeds(self) -> int:
        return max(len(self.without), len(self.with_))

    def runs(self, attr: str) -> list[RunEval]:
        return getattr(self, attr)


def _seed_label(run: RunEval) -> str:
    return "" if run.seed is None else f" seed {run.seed}"


def table_slot(run: RunEval) -> tuple[str, bool, int | None]:
    """The table cell a run fills: its method, with or without TASER, and its seed."""
    return run.method, run.taser, run.seed


def slot_title(run: RunEval) -> str:
    return f"{method_title(run.method)} {'with' if run.taser else 'without'} TASER{_seed_label(run)}"


def newest_per_slot(runs: list[RunEval]) -> tuple[list[RunEval], list[tuple[RunEval, RunEval]]]:
    """(the first run of each table slot, (left-out run, the run kept in its slot) for the rest):
    with runs newest first, the newest evaluation of each cell fills it, so one more evaluation
    replaces a cell's value instead of making the table unbuildable."""
    kept: dict[tuple, RunEval] = {}
    left_out = []
    for run in runs:
        slot = table_slot(run)
        if slot in kept:
            left_out.append((run, kept[slot]))
        else:
            kept[slot] = run
    return list(kept.values()), left_out


def pair_runs(runs: list[RunEval], order: list[str]) -> list[MethodPair]:
    slots: dict[tuple[str, bool, int | None], RunEval] = {}
    for run in runs:
        slot = table_slot(run)
        if slot in slots:
            raise TableError(f"two runs for {slot_title(run)}: {slots[slot].source} and {run.source}")
        slots[slot] = run
    pairs: dict[str, MethodPair] = {}
    for (method, taser, _), run in sorted(slots.items(), key=lambda item: (item[0][0], item[0][1],
                                                                          -1 if item[0][2] is None else item[0][2])):
        pair = pairs.setdefault(method, MethodPair(method))
        (pair.with_ if taser else pair.without).append(run)
    for pair in pairs.values():
        if not pair.complete:
            continue
        seeds = [[r.seed for r in side] for side in (pair.without, pair.with_)]
        if seeds[0] != seeds[1]:
            raise TableError(f"{method_title(pair.method)} has seeds {seeds[0]} without TASER and {seeds[1]} "
                             "with it; pairing by seed needs the same seeds on both sides")
        sources = [r for side in (pair.without, pair.with_) for r in side]
        if len({r.fingerprint for r in sources}) > 1:
            raise TableError(f"{pair.without[0].source} and {pair.with_[0].source} were evaluated on different "
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


def _in_run_overhead(pair: MethodPair) -> float | None:
    """Mean over seeds of the TASER runs' in-run overheads, when every one recorded it."""
    values = [r.train_step_overhead for r in pair.with_]
    return float(np.mean(values)) if values and all(values) else None


def _overhead(pair: MethodPair) -> float | None:
    """The pair's TASER overhead: in-run when recorded, else the ratio of the two runs (see OVERHEAD_NOTE)."""
    in_run = _in_run_overhead(pair)
    if in_run is not None:
        return in_run
    times = [[r.train_ms_per_sample for r in side] for side in (pair.without, pair.with_)]
    if not pair.complete or not all(times[0]) or any(t is None for t in times[1]):
        return None
    return float(np.mean(times[1]) / np.mean(times[0]))


def _overhead_measured(pair: MethodPair) -> str | None:
    """How the pair's overhead was measured: "in-run", "two runs" (marked †) or None."""
    if _overhead(pair) is None:
        return None
    return "in-run" if _in_run_overhead(pair) is not None else "two runs"


def _overhead_text(row: dict) -> str:
    if row["overhead"] is None:
        return "–"
    return f"×{row['overhead']:.2f}" + ("†" if row.get("overhead_measured") == "two runs" else "")


def _seed_means(runs: list[RunEval], scores) -> list[float]:
    return [float(np.mean(scores(r))) for r in runs]


def _mean(runs: list[RunEval], scores) -> float | None:
    """Mean over seeds of each run's mean over points; None for a missing side."""
    return float(np.mean(_seed_means(runs, scores))) if runs else None


def _sd(runs: list[RunEval], scores) -> float | None:
    """Seed-to-seed standard deviation of the run means (None with fewer than two seeds)."""
    return mean_and_sd(_seed_means(runs, scores))[1] if len(runs) > 1 else None


def _pp_sd(value: float | None, sd: float | None) -> str:
    return _pp(value) if sd is None else f"{_pp(value)} ± {100 * sd:.2f}"


# ---------------------------------------------------------------- Table 2

def _table2_row(key: str, pairs: list[MethodPair], bootstrap: dict) -> tuple[dict, list[str], list[bool]]:
    """One row; several pairs (the Avg. rows) are averaged over methods, the CI resampled jointly.

    With one seed per side the CI resamples evaluation points (paired by point); with several it
    resamples seeds, then points (`seed_point_bootstrap_delta`), so seed-to-seed variation enters.
    """
    def side(attr, scores):
        runs = [p.runs(attr) for p in pairs]
        return None if any(not r for r in runs) else float(np.mean([_mean(r, scores) for r in runs]))

    def spread(attr, scores):
        return _sd(pairs[0].runs(attr), scores) if len(pairs) == 1 else None

    def delta(scores):
        if not all(p.complete for p in pairs):
            return None
        without = np.stack([np.stack([scores(r) for r in p.without]) for p in pairs])  # (methods, seeds, points)
        with_ = np.stack([np.stack([scores(r) for r in p.with_]) for p in pairs])
        if without.shape[1] == 1:
            return paired_bootstrap_delta(without[:, 0], with_[:, 0], **bootstrap)
        return seed_point_bootstrap_delta(without, with_, **bootstrap)

    clean_scores, robust_scores = (lambda r: r.clean), (lambda r: r.robust_avg())
    clean_ci, robust_ci = delta(clean_scores), delta(robust_scores)
    overhead = _overhead(pairs[0]) if len(pairs) == 1 else None
    measured = _overhead_measured(pairs[0]) if len(pairs) == 1 else None
    row = {"method": key, "seeds": min(p.seeds for p in pairs), "overhead_measured": measured,
           "clean_without": side("without", clean_scores), "clean_with": side("with_", clean_scores),
           "clean_without_sd": spread("without", clean_scores), "clean_with_sd": spread("with_", clean_scores),
           "clean_delta": clean_ci and clean_ci.as_dict(),
           "robust_avg_without": side("without", robust_scores), "robust_avg_with": side("with_", robust_scores),
           "robust_avg_without_sd": spread("without", robust_scores),
           "robust_avg_with_sd": spread("with_", robust_scores),
           "robust_avg_delta": robust_ci and robust_ci.as_dict(), "overhead": overhead}
    return (row, *_table2_display(row, clean_ci, robust_ci))


def _table2_display(row: dict, clean_ci: DeltaCI | None, robust_ci: DeltaCI | None) -> tuple[list[str], list[bool]]:
    def value(name):
        return _pp_sd(row[name], row.get(f"{name}_sd"))

    cells = [method_title(row["method"]), value("clean_without"), value("clean_with"), _delta_text(clean_ci),
             value("robust_avg_without"), value("robust_avg_with"), _delta_text(robust_ci), _overhead_text(row)]
    bold = [False] * len(cells)
    bold[3] = clean_ci is not None and not clean_ci.excludes_zero
    bold[6] = robust_ci is not None and robust_ci.excludes_zero
    return cells, bold


def _jointly_resamplable(pairs: list[MethodPair]) -> bool:
    """Methods averaged in one CI must share their points and their number of seeds."""
    return (len({r.fingerprint for p in pairs for r in (*p.without, *p.with_)}) == 1
            and len({len(p.without) for p in pairs} | {len(p.with_) for p in pairs}) == 1)


def _interval_note(pairs: list[MethodPair], confidence: float, n_boot: int) -> str:
    if all(p.seeds <= 1 for p in pairs):
        return f"Brackets: paired bootstrap {confidence:.0%} CI over evaluation points ({n_boot} resamples)."
    return (f"Values are means ± sd over seeds. Brackets: {confidence:.0%} CI of a two-level bootstrap "
            f"({n_boot} resamples): seeds resampled per method, paired by seed between the runs without and "
            "with TASER, then evaluation points, paired by point.")


def table2(runs: list[RunEval], *, n_boot: int = N_BOOTSTRAP, confidence: float = CONFIDENCE,
           seed: int = BOOTSTRAP_SEED) -> Table:
    bootstrap = {"n_boot": n_boot, "confidence": confidence, "seed": seed}
    pairs = pair_runs(runs, table2_order())
    groups_of_rows = [(p.method, [p]) for p in pairs]
    complete = [p for p in pairs if p.complete]
    if len(complete) >= 2 and _jointly_resamplable(complete):  # joint resampling needs the same points
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
              f"SPSA accuracy. {_interval_note(pairs, confidence, n_boot)} Bold: robust Δ different from "
              "zero; clean Δ not different from zero. " + OVERHEAD_NOTE),
        bootstrap=bootstrap)


# ---------------------------------------------------------------- Table 3

def _table3_row(pair: MethodPair) -> tuple[dict, list[str]]:
    def side(runs: list[RunEval]) -> dict:
        times = [r.train_ms_per_sample for r in runs]
        return {"clean": _mean(runs, lambda r: r.clean), "autoattack": _mean(runs, lambda r: r.attack("autoattack")),
                "spsa": _mean(runs, lambda r: r.attack("spsa")),
                "train_ms_per_sample": float(np.mean(times)) if times and None not in times else None}

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
        note="Accuracies in percentage points (means over seeds where a method has several). Runtime: "
             "training time per sample. " + OVERHEAD_NOTE)


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
