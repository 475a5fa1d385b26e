"""The attacks robustness is measured with: one small class per attack on a common base.

- `AutoAttackEval`: the official AutoAttack (`pyautoattack`, fra31/auto-attack), standard version
  (APGD-CE, APGD-T, FAB-T, Square), at L∞ ε = 8/255 by default (paper C.6) or L2.
- `AutoAttackSubset`: a cheaper custom selection of AutoAttack's attacks (APGD-CE only by default)
  for quick looks; its label says plainly that it is *not* AutoAttack.
- `SPSA`: advertorch's `LinfSPSAAttack`, re-implemented: margin loss, `nb_sample` antithetic
  Rademacher pairs per gradient estimate, finite-difference step `delta`, Adam with step `lr`,
  projection onto the ε-ball and [0, 1] after every step; the final iterate is the attack.
  Paper parameters ε = 8/255, nb_iter = 32, nb_sample = 128 are the defaults.

Every attack returns per-point robust correctness (a point counts as robust only if it is also
clean-correct: the clean point lies in its own ε-ball) and the warnings it raised. Attacks are
called on a frozen, eval-mode, logits-only model (see `guards`), inside an RNG guard.
"""

from __future__ import annotations

import logging
import re
import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import torch
from torch import Tensor, nn

PAPER_EPS_LINF = 8 / 255  # paper C.6, CIFAR-10
PAPER_EPS_L2 = 128 / 255  # paper C.6, the additional L2 diagnostic
AUTOATTACK_LOGGER = "auto-attack"

# progress(done, total, stage): `done` of `total` batches of the attack's stage (one of its
# `stages()`; "" for a single-stage attack) are done; total 0 says the stage has just begun.
# Raising EvaluationCancelled from it stops the attack.
Progress = Callable[[int, int, str], None]
# A forward pass costs about a third of a forward and backward one (the unit of `stages`).
FORWARD_COST = 1 / 3


class EvaluationCancelled(Exception):
    """The caller asked the evaluation to stop (Callbacks.should_stop)."""


@dataclass
class AttackOutcome:
    correct: Tensor  # bool (n,): robust correct under this attack
    warnings: list[str] = field(default_factory=list)


class Attack(ABC):
    """One way of attacking the model; `name` keys the results, `label` is shown to people."""

    name: str
    is_autoattack: bool = False  # only the standard AutoAttack may be reported as "AutoAttack"
    is_black_box: bool = False
    runs_autoattack_checks: bool = False  # its warnings are AutoAttack's own checks
    norm: str = "Linf"

    @property
    @abstractmethod
    def label(self) -> str: ...

    @property
    def short_label(self) -> str:
        """The attack in a progress message ("AutoAttack", "SPSA")."""
        return self.name

    def stages(self) -> list[tuple[str, float]]:
        """(stage, expected cost of one batch) in the order the attack runs them; the cost in
        forward-and-backward passes, so that progress over attacks × batches moves at the pace
        of the work. An attack that does not say is one stage of cost 1."""
        return [("", 1.0)]

    def params(self) -> dict:
        return asdict(self)

    @abstractmethod
    def run(self, model: nn.Module, x: Tensor, y: Tensor, *, batch_size: int,
            progress: Progress) -> AttackOutcome: ...


def predict(model: nn.Module, x: Tensor, batch_size: int) -> Tensor:
    with torch.no_grad():
        return torch.cat([model(x[i:i + batch_size]).argmax(1) for i in range(0, len(x), batch_size)])


# ---------------------------------------------------------------- AutoAttack (pyautoattack)

_BATCH_LINE = re.compile(r"^(?P<attack>[\w-]+) - (?P<done>\d+)/(?P<total>\d+) - ")


class _AutoAttackLog(logging.Handler):
    """Turns AutoAttack's log lines into progress reports and keeps its check warnings.

    AutoAttack reports only through its `auto-attack` logger (DEBUG lines per sub-attack and per
    batch, WARNING lines for its checks), so this is the one place to listen to it.
    """

    def __init__(self, progress: Progress):
        super().__init__(level=logging.DEBUG)
        self.progress = progress
        self.warnings: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if record.levelno >= logging.WARNING:
            self.warnings.append(message)
            return
        batch = _BATCH_LINE.match(message)
        if batch:
            self.progress(int(batch["done"]), int(batch["total"]), batch["attack"])
        elif message.startswith("running "):
            self.progress(0, 0, message.removeprefix("running ").strip())


def autoattack_stage_cost(stage: str, n_iter: int = 100, n_restarts: int = 1, n_queries: int = 5000,
                          n_target_classes: int = 9) -> float:
    """Expected passes per batch of one of AutoAttack's sub-attacks (targeted ones run once per
    target class; Square's queries are forward passes)."""
    if stage in ("apgd-t", "fab-t"):
        return float(n_iter * n_target_classes)
    if stage == "square":
        return n_queries * FORWARD_COST
    return float(n_iter * n_restarts)


STANDARD_AUTOATTACK = ("apgd-ce", "apgd-t", "fab-t", "square")


def _run_autoattack(adversary, x: Tensor, y: Tensor, batch_size: int, progress: Progress) -> AttackOutcome:
    logger = logging.getLogger(AUTOATTACK_LOGGER)
    handler = _AutoAttackLog(progress)
    saved = (logger.level, logger.propagate)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False  # its DEBUG chatter stays here; the warnings are returned instead
    logger.addHandler(handler)
    try:
        with warnings.catch_warnings(record=True) as raised:
            warnings.simplefilter("always")
            _, y_adv = adversary.run_standard_evaluation(x, y, batch_size=batch_size)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(saved[0])
        logger.propagate = saved[1]
    # Its checks warn through `warnings` where they have no logger; other libraries' warnings are
    # not its, and go back to the caller's warning machinery.
    found = list(handler.warnings)
    for w in raised:
        if "pyautoattack" in str(w.filename):
            found.append(str(w.message))
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return AttackOutcome(correct=(y_adv.to(y.device) == y), warnings=found)


@dataclass
class AutoAttackEval(Attack):
    """The standard AutoAttack. `seed` is passed to it (it would otherwise seed from the clock)."""

    eps: float = PAPER_EPS_LINF
    norm: str = "Linf"
    seed: int = 0

    name = "autoattack"
    is_autoattack = True
    runs_autoattack_checks = True

    def __post_init__(self):
        if self.norm not in ("Linf", "L2"):
            raise ValueError(f"norm must be 'Linf' or 'L2', got {self.norm!r}")
        if self.norm == "L2":
            self.name = "autoattack_l2"

    @property
    def label(self) -> str:
        return f"AutoAttack (standard, {self.norm}, eps={self.eps:.4g})"

    @property
    def short_label(self) -> str:
        return "AutoAttack" if self.norm == "Linf" else f"AutoAttack {self.norm}"

    def stages(self) -> list[tuple[str, float]]:
        return [(stage, autoattack_stage_cost(stage)) for stage in STANDARD_AUTOATTACK]

    def params(self) -> dict:
        return {**asdict(self), "version": "standard"}

    def build(self, model: nn.Module, device: torch.device):
        from pyautoattack import AutoAttack

        return AutoAttack(model, device=device, eps=self.eps, norm=self.norm, seed=self.seed,
                          version="standard")

    def run(self, model, x, y, *, batch_size, progress) -> AttackOutcome:
        adversary = self.build(model, x.device)
        return _run_autoattack(adversary, x, y, batch_size, progress)


@dataclass
class AutoAttackSubset(AutoAttackEval):
    """Some of AutoAttack's attacks with fewer iterations: a quick look, not AutoAttack."""

    attacks: tuple[str, ...] = ("apgd-ce",)
    n_iter: int = 100
    n_restarts: int = 1
    n_queries: int = 5000

    is_autoattack = False

    def __post_init__(self):
        super().__post_init__()
        allowed = {"apgd-ce", "apgd-dlr", "apgd-t", "fab", "fab-t", "square"}
        unknown = set(self.attacks) - allowed
        if not self.attacks or unknown:
            raise ValueError(f"attacks must be a non-empty subset of {sorted(allowed)}, got {self.attacks}")
        self.name = "_".join(a.replace("-", "_") for a in self.attacks)
        if self.norm == "L2":
            self.name += "_l2"
        self.is_black_box = set(self.attacks) == {"square"}

    @property
    def label(self) -> str:
        return (f"{'+'.join(a.upper() for a in self.attacks)} ({self.norm}, eps={self.eps:.4g}, "
                f"{self.n_iter} iterations) - custom subset, not AutoAttack")

    @property
    def short_label(self) -> str:
        return "+".join(a.upper() for a in self.attacks)

    def stages(self) -> list[tuple[str, float]]:
        return [(stage, autoattack_stage_cost(stage, self.n_iter, self.n_restarts, self.n_queries))
                for stage in self.attacks]

    def params(self) -> dict:
        return {**asdict(self), "attacks": list(self.attacks), "version": "custom"}

    def build(self, model, device):
        from pyautoattack import AutoAttack

        adversary = AutoAttack(model, device=device, eps=self.eps, norm=self.norm, seed=self.seed,
                               version="custom", attacks=list(self.attacks))
        for apgd in (adversary.apgd, adversary.apgd_targeted):
            apgd.n_iter, apgd.n_restarts = self.n_iter, self.n_restarts
        adversary.fab.n_iter, adversary.fab.n_restarts = self.n_iter, self.n_restarts
        adversary.square.n_queries = self.n_queries
        return adversary


# ---------------------------------------------------------------- SPSA (advertorch semantics)

def margin_loss(logits: Tensor, y: Tensor) -> Tensor:
    """advertorch's MarginalLoss: largest non-target logit minus the target logit, per point."""
    target = logits.gather(1, y[:, None]).squeeze(1)
    others = logits.scatter(1, y[:, None], float("-inf"))
    return others.max(1).values - target


@dataclass
class SPSA(Attack):
    """Untargeted L∞ SPSA (Uesato et al. 2018) as advertorch's LinfSPSAAttack implements it."""

    eps: float = PAPER_EPS_LINF
    nb_iter: int = 32
    nb_sample: int = 128  # antithetic pairs per gradient estimate (2·nb_sample forwards)
    delta: float = 0.01
    lr: float = 0.01
    max_batch_size: int = 64  # pairs evaluated per forward chunk, as in advertorch
    max_forward: int = 8192  # and at most this many images per forward (memory; not the result)
    seed: int = 0

    name = "spsa"
    is_black_box = True

    @property
    def label(self) -> str:
        return f"SPSA (Linf, eps={self.eps:.4g}, nb_iter={self.nb_iter}, nb_sample={self.nb_sample})"

    @property
    def short_label(self) -> str:
        return "SPSA"

    def stages(self) -> list[tuple[str, float]]:
        return [("", self.nb_iter * 2 * self.nb_sample * FORWARD_COST)]  # forwards only

    def _gradient(self, model: nn.Module, x: Tensor, y: Tensor, generator: torch.Generator) -> Tensor:
        """SPSA estimate of ∇ₓ of the loss Adam minimises, -margin (advertorch's untargeted sign)."""
        grad = torch.zeros_like(x)
        remaining = self.nb_sample
        pairs_per_chunk = max(1, min(self.max_batch_size, self.max_forward // (2 * len(x))))
        while remaining > 0:
            k = min(pairs_per_chunk, remaining)
            remaining -= k
            # One Rademacher direction per (pair, point); advertorch shares one across the batch,
            # which gives each point the same estimator distribution but correlates the points.
            v = torch.randint(0, 2, (k, *x.shape), generator=generator, device=x.device,
                              dtype=x.dtype).mul_(2).sub_(1)
            xs = torch.cat([x + self.delta * v, x - self.delta * v]).flatten(0, 1)
            ys = y.repeat(2 * k)
            loss = -margin_loss(model(xs), ys).view(2, k, len(x))
            df = (loss[0] - loss[1]).view(k, len(x), *[1] * (x.dim() - 1))
            grad += (df / (2 * self.delta * v)).sum(0)
        return grad / self.nb_sample

    def perturb(self, model: nn.Module, x: Tensor, y: Tensor, generator: torch.Generator) -> Tensor:
        dx = torch.zeros_like(x)
        optimizer = torch.optim.Adam([dx], lr=self.lr)
        with torch.no_grad():
            for _ in range(self.nb_iter):
                dx.grad = self._gradient(model, x + dx, y, generator)
                optimizer.step()
                # Project onto the ε-ball and keep x + dx in [0, 1] (advertorch's linf_clamp_).
                dx.copy_((x + dx.clamp(-self.eps, self.eps)).clamp(0, 1) - x)
        return (x + dx).clamp(0, 1)

    def run(self, model, x, y, *, batch_size, progress) -> AttackOutcome:
        generator = torch.Generator(device=x.device).manual_seed(self.seed)
        correct = []
        n_batches = -(-len(x) // batch_size)
        for b, start in enumerate(range(0, len(x), batch_size)):
            xb, yb = x[start:start + batch_size], y[start:start + batch_size]
            with torch.no_grad():
                clean_ok = model(xb).argmax(1) == yb
                adv_ok = model(self.perturb(model, xb, yb, generator)).argmax(1) == yb
            correct.append(clean_ok & adv_ok)
            progress(b + 1, n_batches, "")
        return AttackOutcome(correct=torch.cat(correct))
