"""The paper's "Robust acc. avg.": the mean of AutoAttack and SPSA, per point or per run."""

from __future__ import annotations

from typing import Mapping, TypeVar

ROBUST_AVERAGE_ATTACKS = ("autoattack", "spsa")

Value = TypeVar("Value")  # an accuracy, or per-point correctness as an array


def robust_average(per_attack: Mapping[str, Value]) -> Value | None:
    """Mean of the two attacks' values (elementwise for arrays); None unless both are present."""
    if not all(name in per_attack for name in ROBUST_AVERAGE_ATTACKS):
        return None
    first, second = (per_attack[name] for name in ROBUST_AVERAGE_ATTACKS)
    return (first + second) / 2
