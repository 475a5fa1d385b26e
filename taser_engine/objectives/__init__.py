"""Base training objectives of paper C.2, one small class each, paper parameters as defaults.

`OBJECTIVES` names them (one registration line per objective below; README, "Extending"), and
`build_objective(method, **params)` is the one constructor the training loop uses. An objective
class carries its own table title and its places in the paper's tables (`method_title`,
`table2_order`, `table3_order`).
"""

from __future__ import annotations

import re

from taser_engine.objectives.awp import MartAWP, TradesAWP, WeightPerturbation, perturbable_weights
from taser_engine.objectives.base import AdversarialObjective, BaseLoss, Objective
from taser_engine.objectives.mart import MART, boosted_ce, weighted_kl
from taser_engine.objectives.pgd import PGDAT
from taser_engine.objectives.standard import STANDARD_WEIGHT_DECAY, Standard
from taser_engine.objectives.trades import TRADES, kl_sum
from taser_engine.registry import Registry

OBJECTIVES: Registry[type[Objective]] = Registry("method")
OBJECTIVES.register("standard", Standard)
OBJECTIVES.register("pgd", PGDAT)
OBJECTIVES.register("trades", TRADES)
OBJECTIVES.register("mart", MART)
OBJECTIVES.register("trades-awp", TradesAWP)
OBJECTIVES.register("mart-awp", MartAWP)
# The built-in methods; configs validate against OBJECTIVES itself, so later registrations count.
METHODS = OBJECTIVES.names()

# A config field naming one of OBJECTIVES.
MethodName = OBJECTIVES.Name


def build_objective(method: str, **params) -> Objective:
    """The objective for `method` with its defaults overridden by the params it knows.

    Params a method does not have (e.g. `beta` for PGD-AT) are ignored, so one training config
    can carry every method's parameters.
    """
    cls = OBJECTIVES.get(method)
    known = {k: v for k, v in params.items() if k in cls.model_fields and k != "method" and v is not None}
    return cls(**known)


def method_key(name: str) -> str:
    """'TRADES + AWP', 'trades-awp', 'trades+awp' -> 'trades_awp'; 'vanilla' -> 'standard'.

    The key results and tables group runs by (stored method names and hand-typed ones alike).
    """
    key = re.sub(r"[^a-z0-9]+", "_", name.strip().lower()).strip("_")
    return "standard" if key in ("vanilla", "none", "erm") else key


def method_title(key: str) -> str:
    """The objective's own title for a method name or key; unknown keys are shown as they are."""
    for name, cls in OBJECTIVES.items():
        if method_key(name) == key or name == key:
            return cls.title or name
    return key


def _order(rank: str) -> list[str]:
    ranked = [(getattr(cls, rank), method_key(name)) for name, cls in OBJECTIVES.items()
              if getattr(cls, rank) is not None]
    return [key for _, key in sorted(ranked)]


def table2_order() -> list[str]:
    """Method keys in the paper's Table 2 row order."""
    return _order("table2_rank")


def table3_order() -> list[str]:
    """Method keys in the paper's Table 3 row order."""
    return _order("table3_rank")


__all__ = [
    "AdversarialObjective", "BaseLoss", "MART", "METHODS", "MartAWP", "MethodName", "OBJECTIVES", "Objective",
    "PGDAT", "STANDARD_WEIGHT_DECAY", "Standard", "TRADES", "TradesAWP", "WeightPerturbation", "boosted_ce",
    "build_objective", "kl_sum", "method_key", "method_title", "perturbable_weights", "table2_order",
    "table3_order", "weighted_kl",
]
