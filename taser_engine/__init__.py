"""taser_engine: the TASER regulariser and everything around it. Pure PyTorch, no UI, no SQL.

The public names are imported lazily (PEP 562) so that light submodules such as
`taser_engine.callbacks` can be imported without loading torch: the background worker spawns
one process per job, and a job that needs no torch should not pay seconds to import it.
"""

from __future__ import annotations

import importlib

# public name -> submodule that defines it
_EXPORTS = {
    "SteinPenaltyConfig": "penalty", "alignment": "penalty", "estimate_center": "penalty",
    "taser_penalty": "penalty",
    "LogitProbe": "probes", "class_logit": "probes", "logit_margin": "probes",
    "make_probe": "probes", "softmax_probability": "probes",
    "lambda_ramp": "schedules", "warmup_cosine_lr": "schedules",
    "warmup_cosine_scheduler": "schedules",
    "GaussianScore": "scores", "ScoreSource": "scores",
    "SteinTerms": "stein", "stein_residual": "stein", "stein_terms": "stein",
    "Callbacks": "callbacks",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'taser_engine' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"taser_engine.{_EXPORTS[name]}"), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))
