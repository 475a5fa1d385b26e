"""Attacks used inside training (the evaluation attacks live in taser_engine.evaluation)."""

from taser_engine.attacks.pgd import eval_mode, pgd_linf

__all__ = ["eval_mode", "pgd_linf"]
