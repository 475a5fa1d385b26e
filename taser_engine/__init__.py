"""taser_engine: the TASER regulariser and everything around it. Pure PyTorch, no UI, no SQL."""

from taser_engine.penalty import SteinPenaltyConfig, alignment, estimate_center, taser_penalty
from taser_engine.probes import LogitProbe, class_logit, logit_margin, make_probe, softmax_probability
from taser_engine.schedules import lambda_ramp, warmup_cosine_lr, warmup_cosine_scheduler
from taser_engine.scores import GaussianScore, ScoreSource
from taser_engine.stein import SteinTerms, stein_residual, stein_terms

__all__ = [
    "GaussianScore", "LogitProbe", "ScoreSource", "SteinPenaltyConfig", "SteinTerms", "alignment",
    "class_logit", "estimate_center", "lambda_ramp", "logit_margin", "make_probe",
    "softmax_probability", "stein_residual", "stein_terms", "taser_penalty", "warmup_cosine_lr",
    "warmup_cosine_scheduler",
]
