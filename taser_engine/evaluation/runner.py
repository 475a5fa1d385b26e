"""`evaluate_model`: clean accuracy, every requested attack, per-point results and masking flags.

The model runs frozen in eval mode on a logits-only forward, and the caller's RNGs are restored
afterwards (see `guards`). Progress goes through `Callbacks` as one count over every attack ×
stage × batch (the masking check's runs included), each batch weighted by its expected cost, so
the count moves at the pace of the work and a driver's ETA holds from the first batch on;
messages read "AutoAttack apgd-ce batch 3/10". `should_stop` is honoured between batches.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from torch import Tensor, nn

from taser_engine.callbacks import Callbacks, or_default
from taser_engine.evaluation import masking
from taser_engine.evaluation.attacks import Attack, AttackOutcome, EvaluationCancelled, predict
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


class EvaluationProgress:
    """The evaluation's one progress count: every planned (title, attack) gets a span of units,
    its stages' costs × the number of batches, and an attack's own reports (batch `done` of
    `total` of a stage) move the count through its stage's share. The count never goes back, and
    an attack that ends early (AutoAttack skips what no point survives for) jumps to its end."""

    def __init__(self, callbacks: Callbacks, plan: list[tuple[str, Attack]], n_batches: int) -> None:
        self.callbacks, self.n_batches = callbacks, n_batches
        self.spans = [self._span(attack) for _, attack in plan]
        self.total = sum(sum(span.values()) for span in self.spans)
        self.done, self.next = 0, 0

    def _span(self, attack: Attack) -> dict[str, int]:
        return {stage: max(1, math.ceil(cost * self.n_batches)) for stage, cost in attack.stages()}

    def report(self, message: str) -> None:
        self.callbacks.on_progress(self.done, self.total, message)

    def run(self, title: str, attack: Attack, work: Callable[[Callable], AttackOutcome]) -> AttackOutcome:
        """`work(progress)` for the next planned attack, its progress counted under `title`."""
        span, base = self.spans[self.next], self.done
        self.next += 1
        starts, offset = {}, base
        for stage, units in span.items():
            starts[stage] = offset
            offset += units
        end, several = offset, len(span) > 1

        def progress(done: int, total: int, stage: str) -> None:
            begin = starts.get(stage, base)
            width = span.get(stage, end - base)
            reached = begin + (width * min(done, total) // total if total > 0 else 0)
            self.done = max(self.done, min(reached, end))
            where = f"{title} {stage}" if several and stage else title
            self.report(f"{where} batch {done}/{total}" if total > 0 else f"{where} starting")
            if self.callbacks.should_stop():
                raise EvaluationCancelled(f"stopped during {where}")

        outcome = work(progress)
        self.done = end
        return outcome


def _run_attack(attack: Attack, model: nn.Module, x: Tensor, y: Tensor, batch_size: int,
                progress: EvaluationProgress, title: str | None = None) -> AttackRecord:
    start = time.perf_counter()
    outcome = progress.run(title or attack.short_label, attack, lambda report: attack.run(
        model, x, y, batch_size=batch_size, progress=report))
    return AttackRecord(attack.name, attack.label, attack.is_autoattack, attack.params(),
                        outcome.correct.cpu().numpy().astype(bool), time.perf_counter() - start,
                        outcome.warnings)


def _iteration_check_plan(config: EvaluationConfig) -> list[tuple[str, Attack]]:
    return [(f"masking check, APGD-CE at {n_iter} iterations:", config.quick_apgd(n_iter))
            for n_iter in config.iteration_check or ()]


def _iteration_check(config: EvaluationConfig, model, x, y,
                     progress: EvaluationProgress) -> tuple[dict[int, float], list[str]]:
    accuracy, found = {}, []
    for (title, attack), n_iter in zip(_iteration_check_plan(config), config.iteration_check):
        record = _run_attack(attack, model, x, y, config.batch_size, progress, title)
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
        plan = [(attack.short_label, attack) for attack in attacks] + _iteration_check_plan(config)
        progress = EvaluationProgress(callbacks, plan, n_batches=math.ceil(len(x) / config.batch_size))
        progress.report("clean accuracy")
        clean = (predict(logits_model, x, config.batch_size) == y).cpu().numpy()
        callbacks.on_metrics(0, {"clean_acc": float(clean.mean())})
        records: dict[str, AttackRecord] = {}
        for i, attack in enumerate(attacks):
            records[attack.name] = _run_attack(attack, logits_model, x, y, config.batch_size, progress)
            callbacks.on_metrics(i + 1, {f"robust_acc/{attack.name}": records[attack.name].accuracy})
        by_iterations, iteration_warnings = (
            _iteration_check(config, logits_model, x, y, progress) if config.iteration_check else (None, []))
        progress.report("evaluation done")
    flags = _flags(config, attacks, records, by_iterations, iteration_warnings)
    return EvaluationResult(subset, clean, records, flags, time.perf_counter() - start,
                            config.model_dump(mode="json"))
