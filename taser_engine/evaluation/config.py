"""`EvaluationConfig`: the one validated description of an evaluation job (CLI and worker alike).

Unset budgets take the dataset's default threat model (`taser_engine.datasets.dataset_info`);
the paper's CIFAR-10 values (L∞ 8/255, L2 128/255, SPSA nb_iter 32 / nb_sample 128, N_eval 1000)
are the attack classes' own defaults. `attacks` name entries of `ATTACKS` (named_attacks.py),
whose own params classes check `attack_params`.
"""

from __future__ import annotations

import copy
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from taser_engine.datasets import DatasetName, dataset_info
from taser_engine.evaluation.attacks import Attack, AutoAttackSubset
from taser_engine.evaluation.named_attacks import ATTACKS, APGDCEOnly, NamedAttack, SPSAAttack, SquareOnly
from taser_engine.evaluation.subset import EVAL_SUBSET_SEED, N_EVAL
from taser_engine.fields import MAX_ATTACK_ITERATIONS, MAX_BATCH, MAX_LIST, MAX_SAMPLES, Seed, format_errors


def _flat(attack: type[NamedAttack], param: str):
    """A flat field of older configs, with the bounds and default of the attack param it sets."""
    return copy.deepcopy(attack.model_fields[param])


Iterations = Annotated[int, Field(ge=1, le=MAX_ATTACK_ITERATIONS)]


class EvaluationConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    dataset: DatasetName = Field("digits", description="dataset of the model")
    n_eval: int = Field(N_EVAL, ge=1, le=MAX_SAMPLES, description="evaluation subset size N_eval (whole test set if smaller)",
                        json_schema_extra={"flag": "--n"})
    subset_seed: Seed = Field(EVAL_SUBSET_SEED, description="seed of the evaluation subset draw")
    attacks: list[ATTACKS.Name] = Field(default_factory=lambda: ["autoattack", "spsa"], max_length=MAX_LIST,
                                        description="attacks to run (the paper's tables: autoattack and spsa)")
    # each attack's own params, {name: {param: value}}, checked by its class (evaluation/named_attacks.py)
    attack_params: dict[ATTACKS.Name, dict[str, Any]] = Field(default_factory=dict, max_length=MAX_LIST, description=(
        "per-attack parameters, e.g. {\"spsa\": {\"nb_iter\": 8}}; they override the flat fields below"))
    # inputs are in [0, 1]: an L∞ budget of 1 reaches every image; an L2 one of 100 exceeds the
    # diameter of [0, 1]^d for 3x32x32 images (55)
    eps_linf: float | None = Field(None, ge=0, le=1, description="L∞ budget; default: the dataset's")
    eps_l2: float | None = Field(None, ge=0, le=100, description="L2 budget; default: the dataset's")
    batch_size: int = Field(250, ge=1, le=MAX_BATCH, description="points per attack batch")
    attack_seed: Seed = Field(0, description="attack seed (AutoAttack, SPSA)", json_schema_extra={"flag": "--seed"})
    # Flat attack params (the CLI flags and the configs stored before attack_params); each has the
    # bounds, default and description of the param it sets, and attack_params wins where both are given.
    spsa_nb_iter: int = _flat(SPSAAttack, "nb_iter")
    spsa_nb_sample: int = _flat(SPSAAttack, "nb_sample")
    spsa_lr: float = _flat(SPSAAttack, "lr")
    spsa_delta: float = _flat(SPSAAttack, "delta")
    apgd_n_iter: int = _flat(APGDCEOnly, "n_iter")
    square_n_queries: int = _flat(SquareOnly, "n_queries")
    iteration_check: tuple[Iterations, Iterations] | None = Field(
        (10, 100), description="APGD-CE iteration counts (FEWER,MORE) compared by the gradient-masking check; None (none) skips it")
    masking_tolerance: float = Field(0.005, ge=0, le=1, description="accuracy gap that raises a masking flag")

    @field_validator("attacks", mode="before")
    @classmethod
    def _attack_names(cls, names: Any) -> Any:
        """'APGD-CE ' -> 'apgd_ce', blanks dropped; then the length bound and the registry check."""
        if not isinstance(names, (list, tuple)):
            return names
        cleaned = [n.strip().lower().replace("-", "_") if isinstance(n, str) else n for n in names]
        return [n for n in cleaned if n != ""]

    @field_validator("attacks")
    @classmethod
    def _some_attack(cls, names: list[str]) -> list[str]:
        if not names:
            raise ValueError(f"name at least one attack; choose from {', '.join(ATTACKS.names())}")
        return list(dict.fromkeys(names))

    @model_validator(mode="after")
    def _attack_params_valid(self):
        for name in self.attack_params:
            try:
                self.named_attack(name)
            except ValidationError as exc:
                raise ValueError(f"attack_params.{name}: {format_errors(exc)}") from None
        return self

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

    def named_attack(self, name: str) -> NamedAttack:
        """The params of attack `name`: its defaults, then the flat fields, then `attack_params`."""
        cls = ATTACKS.get(name)
        params = {param: getattr(self, flat) for flat, param in cls.legacy_fields.items()}
        return cls(**{**params, **self.attack_params.get(name, {})})

    def build_attacks(self) -> list[Attack]:
        return [self.named_attack(name).build(self) for name in self.attacks]

    def quick_apgd(self, n_iter: int) -> AutoAttackSubset:
        """APGD-CE alone at `n_iter` iterations (the gradient-masking check's runs)."""
        return APGDCEOnly(n_iter=n_iter).build(self)
