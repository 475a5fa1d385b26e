"""Table 1 (paper §5.1, 1D extrapolation): our study beside the paper's numbers, in one place.

The Extrapolation page and the HTML report show `table1_rows`, `taser toy1d` prints `table1_text`,
the Paper-check page shows `table1_check` and plots `ood_pairs`; all read our cells and the paper's
through `cells`, so the pairing of a (regulariser, λ) cell with the paper's is done once.
Pure: study rows in (as the `toy1d` job and command store them), rows or text out.
"""

from __future__ import annotations

from collections.abc import Sequence

from taser_engine.experiments.paper_tables import PAPER_TABLE1

REGULARISERS = ("l2", "stein")
REGULARISER_TITLES = {"l2": "L2", "stein": "Stein"}
SPLITS = ("id", "ood")


def cells(rows: Sequence[dict], paper: Sequence[dict] = PAPER_TABLE1) -> dict[tuple[str, float], dict]:
    """{(regulariser, λ): {"ours": our row or None, "paper": {"id": value, "ood": value}}} over every λ of either."""
    ours = {(row["regulariser"], row["lambda"]): row for row in rows}
    paper_by_lambda = {row["lambda"]: row for row in paper}
    keys = sorted({*ours, *((reg, lam) for lam in paper_by_lambda for reg in REGULARISERS)})
    return {(reg, lam): {"ours": ours.get((reg, lam)),
                         "paper": {split: paper_by_lambda.get(lam, {}).get(f"{reg}_{split}") for split in SPLITS}}
            for reg, lam in keys}


def table1_rows(rows: Sequence[dict], paper: Sequence[dict] = PAPER_TABLE1) -> list[dict]:
    """One display row per cell we ran: mean ± std over seeds with the paper's value beside it."""
    out = []
    for (reg, lam), cell in cells(rows, paper).items():
        row = cell["ours"]
        if row is None:
            continue
        out.append({"regulariser": REGULARISER_TITLES[reg], "λ": lam,
                    **{f"{split.upper()} MSE ({who})": text
                       for split in SPLITS
                       for who, text in (("ours", f"{row[f'{split}_mse_mean']:.3g} ± {row.get(f'{split}_mse_std') or 0:.2g}"),
                                         ("paper", _compact(cell["paper"][split])))},
                    "seeds": len(row.get("seeds") or [])})
    return out


def _compact(value) -> str:
    return "—" if value is None else f"{value:.3g}"


def table1_text(study: dict) -> str:
    """A terminal grid per λ: our L2 / Stein cells, then the paper's; with the protocol underneath."""
    grid = cells(study["rows"])
    lambdas = sorted({row["lambda"] for row in study["rows"]})
    header = ["λ", "L2 ID", "L2 OOD", "Stein ID", "Stein OOD", "| paper:", "L2 ID", "L2 OOD", "Stein ID", "Stein OOD"]
    lines = [[f"{lam:g}", *(_ours_text(grid[(reg, lam)]["ours"], split) for reg in REGULARISERS for split in SPLITS), "|",
              *(_paper_text(grid[(reg, lam)]["paper"][split], split) for reg in REGULARISERS for split in SPLITS)]
             for lam in lambdas]
    widths = [max(len(str(x)) for x in col) for col in zip(header, *lines)]

    def aligned(row_cells):
        return "  ".join(str(c).ljust(w) for c, w in zip(row_cells, widths))

    s = study["settings"]
    out = [aligned(header), *(aligned(line) for line in lines),
           f"mean ± std over {s['seeds']} seeds; ID = MSE on fresh samples from p, OOD = MSE on the "
           f"grid [{s['grid_min']:g}, {s['grid_max']:g}] ({s['grid_points']} points)."]
    if (s["distribution"], s["target"]) != ("gaussian", "sin"):
        out.append("note: the paper's numbers are for N(0, 1) inputs and target sin(x); this run differs.")
    return "\n".join(out)


def _ours_text(row: dict | None, split: str) -> str:
    if row is None:
        return "-"
    mean, std = row[f"{split}_mse_mean"], row[f"{split}_mse_std"]
    return f"{mean:.2e} ± {std:.1e}" if split == "id" else f"{mean:.3g} ± {std:.2g}"


def _paper_text(value: float | None, split: str) -> str:
    if value is None:
        return "-"
    return f"{value:.2e}" if split == "id" else f"{value:.3f}"


def table1_check(rows: Sequence[dict], paper: Sequence[dict] = PAPER_TABLE1) -> list[dict]:
    """Per λ of the paper: paper and ours for L2 / Stein, and whether 'Stein OOD < L2 OOD' holds in both."""
    grid = cells(rows, paper)
    out = []
    for reference in paper:
        lam = reference["lambda"]
        l2, stein = grid[("l2", lam)]["ours"], grid[("stein", lam)]["ours"]
        claim_paper = (reference.get("stein_ood") is not None and reference.get("l2_ood") is not None
                       and reference["stein_ood"] < reference["l2_ood"])
        claim_ours = l2 is not None and stein is not None and stein["ood_mse_mean"] < l2["ood_mse_mean"]
        out.append({
            "λ": lam, "Stein OOD < L2 OOD?": _verdict(claim_paper, claim_ours, l2 is not None and stein is not None,
                                                      reference.get("stein_ood") is not None),
            **{f"{REGULARISER_TITLES[reg]} {split.upper()} ({who})": value
               for split in ("ood", "id") for reg, row in (("l2", l2), ("stein", stein))
               for who, value in (("paper", reference.get(f"{reg}_{split}")),
                                  ("ours", row and row[f"{split}_mse_mean"]))},
        })
    return out


def _verdict(paper: bool, ours: bool, have_ours: bool, paper_has: bool) -> str:
    if not paper_has:
        return "— (no Stein cell at λ = 0)"
    if not have_ours:
        return "not run yet"
    if paper == ours:
        return f"reproduces ({'yes' if ours else 'no'} in both)"
    return f"differs (paper: {'yes' if paper else 'no'}, ours: {'yes' if ours else 'no'})"


def ood_pairs(rows: Sequence[dict], paper: Sequence[dict] = PAPER_TABLE1) -> list[dict]:
    """{"label", "paper", "ours"} per (regulariser, λ) cell the paper reports, for the paper-vs-ours plot."""
    grid = cells(rows, paper)
    return [{"label": f"{REGULARISER_TITLES[reg]} λ={lam:g}", "paper": cell["paper"]["ood"],
             "ours": cell["ours"] and cell["ours"]["ood_mse_mean"]}
            for reg in REGULARISERS for (cell_reg, lam), cell in grid.items()
            if cell_reg == reg and cell["paper"]["ood"] is not None]
