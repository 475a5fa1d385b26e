"""`EvaluationConfig`: the one validated description of an evaluation job (CLI and worker alike).

Unset budgets take the dataset's default threat model (`taser_engine.datasets.dataset_info`);
the paper's CIFAR-10 values (L∞ 8/255, L2 128/255, SPSA nb_iter 32 / nb_sample 128, N_eval 1000)
are the attack classes' own defaults.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

from taser_engine.datasets import DatasetName, dataset_info
from taser_engine.fields import MAX_ATTACK_ITERATIONS, MAX_BATCH, MAX_LIST, MAX_SAMPLES, Seed
from taser_engine.evaluation.attacks import SPSA, Attack, AutoAttackEval, AutoAttackSubset
from taser_engine.evaluation.subset import EVAL_SUBSET_SEED, N_EVAL

ATTACK_NAMES = {
    "autoattack": "standard AutoAttack, L∞",
    "autoattack_l2": "standard AutoAttack, L2",
    "apgd_ce": "APGD-CE alone, L∞ (quick look, not AutoAttack)",
    "square": "Square alone, L∞ (black-box check, not AutoAttack)",
    "spsa": "SPSA, L∞",
}


Iterations = Annotated[int, Field(ge=1, le=MAX_ATTACK_ITERATIONS)]


class EvaluationConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    dataset: DatasetName = Field("digits", description="dataset of the model")
    n_eval: int = Field(N_EVAL, ge=1, le=MAX_SAMPLES, description="evaluation subset size N_eval (whole test set if smaller)",
                        json_schema_extra={"flag": "--n"})
    subset_seed: Seed = Field(EVAL_SUBSET_SEED, description="seed of the evaluation subset draw")
    attacks: list[str] = Field(default_factory=lambda: ["autoattack", "spsa"], max_length=MAX_LIST, description=(
        "attacks to run, from: " + "; ".join(f"{name} ({label})" for name, label in ATTACK_NAMES.items())))
    # inputs are in [0, 1]: an L∞ budget of 1 reaches every image; an L2 one of 100 exceeds the
    # diameter of [0, 1]^d for 3x32x32 images (55)
    eps_linf: float | None = Field(None, ge=0, le=1, description="L∞ budget; default: the dataset's")
    eps_l2: float | None = Field(None, ge=0, le=100, description="L2 budget; default: the dataset's")
    batch_size: int = Field(250, ge=1, le=MAX_BATCH, description="points per attack batch")
    attack_seed: Seed = Field(0, description="attack seed (AutoAttack, SPSA)", json_schema_extra={"flag": "--seed"})
    spsa_nb_iter: int = Field(SPSA.nb_iter, ge=1, le=MAX_ATTACK_ITERATIONS, description="SPSA iterations")
    # SPSA evaluates 2·nb_sample perturbed copies of each point per iteration (the paper: 128)
    spsa_nb_sample: int = Field(SPSA.nb_sample, ge=1, le=MAX_BATCH, description="SPSA samples per iteration")
    spsa_lr: float = Field(SPSA.lr, gt=0, le=1, description="SPSA step size")  # a step in [0, 1] input space
    spsa_delta: float = Field(SPSA.delta, gt=0, le=1, description="SPSA perturbation size of the gradient estimate")
    apgd_n_iter: int = Field(100, ge=1, le=MAX_ATTACK_ITERATIONS,
                             description="iterations of the quick APGD-CE / Square looks")
    square_n_queries: int = Field(5000, ge=1, le=MAX_ATTACK_ITERATIONS, description="queries of the Square look")
    iteration_check: tuple[Iterations, Iterations] | None = Field(
        (10, 100), description="APGD-CE iteration counts (FEWER,MORE) compared by the gradient-masking check; None (none) skips it")
    masking_tolerance: float = Field(0.005, ge=0, le=1, description="accuracy gap that raises a masking flag")

    @field_validator("attacks")
    @classmethod
    def _known_attacks(cls, names: list[str]) -> list[str]:
        cleaned = [n.strip().lower().replace("-", "_") for n in names if n.strip()]
        unknown = [n[:40] for n in cleaned if n not in ATTACK_NAMES]
        if not cleaned or unknown:
            raise ValueError(f"unknown attack(s) {unknown or names}; choose from {', '.join(ATTACK_NAMES)}")
        return list(dict.fromkeys(cleaned))

    @field_validator("iteration_check")
    @classmethod
    def _increasing(cls, steps: tuple[int, int] | None) -> tuple[int, int] | None:
        if steps is not None and not 1 <= steps[0] < steps[1]:
            raise ValueError(f"iteration_check needs 1 <= fewer < more iterations, got {steps}")
        return steps

    @property
    def linf(self) -> float:
        return self.eps_linf if self.eps_linf is not None else dataset_info(self.dataset).eps_linf

    @property
    def l2(self) -> float:
        return self.eps_l2 if self.eps_l2 is not None else dataset_info(self.dataset).eps_l2

    def build_attacks(self) -> list[Attack]:
        seed = self.attack_seed
        builders = {
            "autoattack": lambda: AutoAttackEval(eps=self.linf, norm="Linf", seed=seed),
            "autoattack_l2": lambda: AutoAttackEval(eps=self.l2, norm="L2", seed=seed),
            "apgd_ce": lambda: self.quick_apgd(self.apgd_n_iter),
            "square": lambda: AutoAttackSubset(eps=self.linf, seed=seed, attacks=("square",),
                                               n_queries=self.square_n_queries),
            "spsa": lambda: SPSA(eps=self.linf, nb_iter=self.spsa_nb_iter, nb_sample=self.spsa_nb_sample,
                                 lr=self.spsa_lr, delta=self.spsa_delta, seed=seed),
        }
        return [builders[name]() for name in self.attacks]

    def quick_apgd(self, n_iter: int) -> AutoAttackSubset:
        return AutoAttackSubset(eps=self.linf, seed=self.attack_seed, attacks=("apgd-ce",), n_iter=n_iter)
