"""The paper's own numbers, in one place, for side-by-side comparison (CLI and Paper-check page)."""

from __future__ import annotations

# Table 1 (section 5.1): test MSE, in-distribution (fresh N(0, 1) samples) and on a wide grid (OOD),
# target sin(x), inputs N(0, 1). Stein needs λ > 0, hence None at λ = 0.
PAPER_TABLE1: list[dict] = [
    {"lambda": 0.0, "l2_id": 4.19e-05, "l2_ood": 1.267, "stein_id": None, "stein_ood": None},
    {"lambda": 1e-4, "l2_id": 2.37e-04, "l2_ood": 5.335, "stein_id": 1.85e-06, "stein_ood": 1.225},
    {"lambda": 1e-3, "l2_id": 1.80e-03, "l2_ood": 5.407, "stein_id": 2.68e-05, "stein_ood": 1.245},
    {"lambda": 1e-2, "l2_id": 1.29e-02, "l2_ood": 1.158, "stein_id": 5.95e-04, "stein_ood": 1.336},
    {"lambda": 1e-1, "l2_id": 6.00e-02, "l2_ood": 2.546, "stein_id": 2.04e-02, "stein_ood": 0.540},
]


def paper_table1_cell(lam: float, regulariser: str, split: str) -> float | None:
    """The paper's Table 1 value for (λ, "l2"|"stein", "id"|"ood"), or None where it has none."""
    for row in PAPER_TABLE1:
        if abs(row["lambda"] - lam) <= 1e-12 * max(1.0, abs(lam)):
            return row[f"{regulariser}_{split}"]
    return None
