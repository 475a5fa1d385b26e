"""`evaluate_model`: clean accuracy, every requested attack, per-point results and masking flags.

The model runs frozen in eval mode on a logits-only forward, and the caller's RNGs are restored
afterwards (see `guards`). Progress goes through `Callbacks`: one report per attack (with the
attack's label) and one per batch inside it; `should_stop` is honoured between batches.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
from torch import Tensor, nn

from taser_engine.callbacks import Callbacks, or_default
from taser_engine.evaluation import masking
from taser_engine.evaluation.attacks import Attack, EvaluationCancelled, predict
from taser_engine.evaluation.config import EvaluationConfig
from taser_engine.evaluation.guards import frozen_eval, model_device, preserved_rng
from taser_engine.evaluation.robust_average import robust_average
from taser_engine.evaluation.subset import EvalSubset, evaluation_subset

SCHEMA = "taser.evaluation/1"


@dataclass
class AttackRecord:
    name: str
    label: str
    is_autoattack: bool
    params: dict
    correct: np.ndarray  # bool (n,)
    wall_s: float
    warnings: list[str] = field(default_factory=list)

    @property
    def accuracy(self) -> float:
        return float(self.correct.mean())


@dataclass
class EvaluationResult:
    subset: EvalSubset
    clean_correct: np.ndarray
    attacks: dict[str, AttackRecord]
    flags: list[masking.MaskingFlag]
    wall_s: float
    config: dict

    @property
    def clean_acc(self) -> float:
        return float(self.clean_correct.mean())

    @property
    def robust(self) -> dict[str, float]:
        return {name: rec.accuracy for name, rec in self.attacks.items()}

    @property
    def robust_avg(self) -> float | None:
        """The paper's "Robust acc. avg.": mean of AutoAttack and SPSA accuracy (None without both)."""
        return robust_average(self.robust)

    def to_json(self, run: dict | None = None) -> dict:
        return {
            "schema": SCHEMA,
            "run": run or {},
            "subset": self.subset.describe(),
            "n": self.subset.n,
            "clean_acc": self.clean_acc,
            "robust": self.robust,
            "robust_avg": self.robust_avg,
            "attacks": {name: {"label": r.label, "is_autoattack": r.is_autoattack, "params": r.params,
                               "wall_s": r.wall_s, "warnings": r.warnings}
                        for name, r in self.attacks.items()},
            "per_sample": {"clean": self.clean_correct.astype(int).tolist(),
                           **{name: r.correct.astype(int).tolist() for name, r in self.attacks.items()}},
            "flags": [f.as_dict() for f in self.flags],
            "config": self.config,
            "wall_s": self.wall_s,
        }


def _progress(callbacks: Callbacks):
    def report(done: int, total: int, message: str) -> None:
        callbacks.on_progress(done, total, message)
        if callbacks.should_stop():
            raise EvaluationCancelled(f"stopped during {message}")
    return report


def _run_attack(attack: Attack, model: nn.Module, x: Tensor, y: Tensor, batch_size: int,
                callbacks: Callbacks) -> AttackRecord:
    start = time.perf_counter()
    outcome = attack.run(model, x, y, batch_size=batch_size, progress=_progress(callbacks))
    return AttackRecord(attack.name, attack.label, attack.is_autoattack, attack.params(),
                        outcome.correct.cpu().numpy().astype(bool), time.perf_counter() - start,
                        outcome.warnings)


def _iteration_check(config: EvaluationConfig, model, x, y, callbacks) -> tuple[dict[int, float], list[str]]:
    accuracy, found = {}, []
    for i, n_iter in enumerate(config.iteration_check):
        callbacks.on_progress(i, len(config.iteration_check), f"masking check: APGD-CE at {n_iter} iterations")
        record = _run_attack(config.quick_apgd(n_iter), model, x, y, config.batch_size, callbacks)
        accuracy[n_iter] = record.accuracy
        found += record.warnings
    return accuracy, found


def _flags(config: EvaluationConfig, attacks: list[Attack], records: dict[str, AttackRecord],
           by_iterations: dict[int, float] | None, iteration_warnings: list[str]) -> list[masking.MaskingFlag]:
    # Black-box against white-box within one threat model: SPSA and Square here are L∞.
    linf = {a.name: records[a.name] for a in attacks if a.norm == "Linf"}
    black_box = {a.name for a in attacks if a.is_black_box and a.name in linf}
    white_box_correct = [r.correct for name, r in linf.items() if name not in black_box]
    robust_to_white = np.logical_and.reduce(white_box_correct) if white_box_correct else None
    only_black = ({name: int((robust_to_white & ~linf[name].correct).sum()) for name in black_box}
                  if robust_to_white is not None else {})
    aa_messages = {a.name: records[a.name].warnings for a in attacks if a.runs_autoattack_checks}
    if by_iterations:
        aa_messages["iteration_check"] = iteration_warnings
    return [
        masking.black_box_flag({n: r.accuracy for n, r in linf.items()}, black_box, only_black,
                               config.masking_tolerance),
        masking.iterations_flag(by_iterations, config.masking_tolerance),
        masking.autoattack_flag(aa_messages),
    ]


def evaluate_model(model: nn.Module, config: EvaluationConfig, *, subset: EvalSubset | None = None,
                   callbacks: Callbacks | None = None) -> EvaluationResult:
    """Evaluate `model` on the fixed subset of `config.dataset` under `config.attacks`."""
    callbacks = or_default(callbacks)
    subset = subset or evaluation_subset(config.dataset, config.n_eval, config.subset_seed)
    attacks = config.build_attacks()
    start = time.perf_counter()
    with preserved_rng(), frozen_eval(model) as logits_model:
        device = model_device(model)
        x, y = subset.x.to(device), subset.y.to(device)
        clean = (predict(logits_model, x, config.batch_size) == y).cpu().numpy()
        callbacks.on_metrics(0, {"clean_acc": float(clean.mean())})
        records: dict[str, AttackRecord] = {}
        for i, attack in enumerate(attacks):
            callbacks.on_progress(i, len(attacks), f"attack {i + 1}/{len(attacks)}: {attack.label}")
            records[attack.name] = _run_attack(attack, logits_model, x, y, config.batch_size, callbacks)
            callbacks.on_metrics(i + 1, {f"robust_acc/{attack.name}": records[attack.name].accuracy})
        by_iterations, iteration_warnings = (
            _iteration_check(config, logits_model, x, y, callbacks) if config.iteration_check else (None, []))
        callbacks.on_progress(len(attacks), len(attacks), "evaluation done")
    flags = _flags(config, attacks, records, by_iterations, iteration_warnings)
    return EvaluationResult(subset, clean, records, flags, time.perf_counter() - start,
                            config.model_dump(mode="json"))
