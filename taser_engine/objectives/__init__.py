"""Base training objectives of paper C.2, one small class each, paper parameters as defaults.

`build_objective(method, **params)` is the one constructor the training loop uses.
"""

from __future__ import annotations

from taser_engine.objectives.awp import MartAWP, TradesAWP, WeightPerturbation, perturbable_weights
from taser_engine.objectives.base import AdversarialObjective, BaseLoss, Objective
from taser_engine.objectives.mart import MART, boosted_ce, weighted_kl
from taser_engine.objectives.pgd import PGDAT
from taser_engine.objectives.standard import STANDARD_WEIGHT_DECAY, Standard
from taser_engine.objectives.trades import TRADES, kl_sum

OBJECTIVES: dict[str, type[Objective]] = {
    "standard": Standard, "pgd": PGDAT, "trades": TRADES, "mart": MART,
    "trades-awp": TradesAWP, "mart-awp": MartAWP,
}
METHODS = tuple(OBJECTIVES)


def build_objective(method: str, **params) -> Objective:
    """The objective for `method` with its defaults overridden by the params it knows.

    Params a method does not have (e.g. `beta` for PGD-AT) are ignored, so one training config
    can carry every method's parameters.
    """
    if method not in OBJECTIVES:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    cls = OBJECTIVES[method]
    known = {k: v for k, v in params.items() if k in cls.model_fields and k != "method" and v is not None}
    return cls(**known)


__all__ = [
    "AdversarialObjective", "BaseLoss", "MART", "METHODS", "MartAWP", "OBJECTIVES", "Objective", "PGDAT",
    "STANDARD_WEIGHT_DECAY", "Standard", "TRADES", "TradesAWP", "WeightPerturbation", "boosted_ce",
    "build_objective", "kl_sum", "perturbable_weights", "weighted_kl",
]
