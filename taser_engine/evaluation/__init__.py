"""Robustness evaluation (paper C.6) and the paper's result tables (Tables 2 and 3).

`evaluate_model(model, EvaluationConfig(...))` measures clean accuracy and robust accuracy under
AutoAttack and SPSA on the fixed evaluation subset, keeps per-point results, and returns the
gradient-masking flags; `tables` pairs runs without/with TASER and renders the paper's layouts
with paired-bootstrap confidence intervals.
"""

from taser_engine.evaluation.attacks import (
    PAPER_EPS_L2, PAPER_EPS_LINF, SPSA, Attack, AutoAttackEval, AutoAttackSubset, EvaluationCancelled,
)
from taser_engine.evaluation.bootstrap import DeltaCI, paired_bootstrap_delta
from taser_engine.evaluation.config import EvaluationConfig
from taser_engine.evaluation.named_attacks import ATTACKS, NamedAttack, attack_descriptions
from taser_engine.evaluation.guards import frozen_eval, preserved_rng
from taser_engine.evaluation.runner import EvaluationResult, evaluate_model
from taser_engine.evaluation.subset import N_EVAL, EvalSubset, evaluation_subset

__all__ = [
    "ATTACKS", "Attack", "AutoAttackEval", "AutoAttackSubset", "DeltaCI", "EvalSubset",
    "EvaluationCancelled", "EvaluationConfig", "EvaluationResult", "N_EVAL", "NamedAttack", "PAPER_EPS_L2",
    "PAPER_EPS_LINF", "SPSA", "attack_descriptions", "evaluate_model", "evaluation_subset", "frozen_eval",
    "paired_bootstrap_delta", "preserved_rng",
]
