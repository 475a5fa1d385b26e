"""The attacks an evaluation config names: one params class per name, registered in `ATTACKS`.

A named attack is a small pydantic model whose fields are the attack's own parameters (bounded,
paper values as defaults) and whose `build(config)` makes the `Attack` that runs, taking the
budget and seed shared by every attack from the `EvaluationConfig`. `EvaluationConfig.attack_params`
holds `{name: {param: value}}` and is checked by these classes; `legacy_fields` maps the flat
fields older configs stored (`spsa_nb_iter`, ...) onto the params they set. Adding an attack is a
new params class (here or in its own module) under one `@ATTACKS.register(name)` line (README, "Extending").
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from taser_engine.evaluation.attacks import SPSA, Attack, AutoAttackEval, AutoAttackSubset
from taser_engine.fields import MAX_ATTACK_ITERATIONS, MAX_BATCH
from taser_engine.registry import Registry

if TYPE_CHECKING:
    from taser_engine.evaluation.config import EvaluationConfig


class NamedAttack(BaseModel):
    """Base of an attack's params; subclasses set `description` and implement `build`."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    description: ClassVar[str] = ""  # shown in CLI help and pages
    legacy_fields: ClassVar[dict[str, str]] = {}  # flat EvaluationConfig field -> param of this class

    def build(self, config: EvaluationConfig) -> Attack:
        raise NotImplementedError


ATTACKS: Registry[type[NamedAttack]] = Registry("attack")

# One small class per attack (torchattacks-like), alike in shape: each names its own parameters
# and budget, which is what a user picks between.


@ATTACKS.register("autoattack")
class AutoAttackLinf(NamedAttack):
    description = "standard AutoAttack, L∞"

    def build(self, config):
        return AutoAttackEval(eps=config.linf, norm="Linf", seed=config.attack_seed)


@ATTACKS.register("autoattack_l2")
class AutoAttackL2(NamedAttack):
    description = "standard AutoAttack, L2"

    def build(self, config):
        return AutoAttackEval(eps=config.l2, norm="L2", seed=config.attack_seed)


@ATTACKS.register("apgd_ce")
class APGDCEOnly(NamedAttack):
    description = "APGD-CE alone, L∞ (quick look, not AutoAttack)"
    legacy_fields = {"apgd_n_iter": "n_iter"}

    n_iter: int = Field(100, ge=1, le=MAX_ATTACK_ITERATIONS, description="iterations of the quick APGD-CE look")

    def build(self, config):
        return AutoAttackSubset(eps=config.linf, seed=config.attack_seed, attacks=("apgd-ce",), n_iter=self.n_iter)


@ATTACKS.register("square")
class SquareOnly(NamedAttack):
    description = "Square alone, L∞ (black-box check, not AutoAttack)"
    legacy_fields = {"square_n_queries": "n_queries"}

    n_queries: int = Field(5000, ge=1, le=MAX_ATTACK_ITERATIONS, description="queries of the Square look")

    def build(self, config):
        return AutoAttackSubset(eps=config.linf, seed=config.attack_seed, attacks=("square",),
                                n_queries=self.n_queries)


@ATTACKS.register("spsa")
class SPSAAttack(NamedAttack):
    description = "SPSA, L∞"
    legacy_fields = {"spsa_nb_iter": "nb_iter", "spsa_nb_sample": "nb_sample", "spsa_lr": "lr",
                     "spsa_delta": "delta"}

    nb_iter: int = Field(SPSA.nb_iter, ge=1, le=MAX_ATTACK_ITERATIONS, description="SPSA iterations")
    # 2·nb_sample perturbed copies of each point per iteration (the paper: 128)
    nb_sample: int = Field(SPSA.nb_sample, ge=1, le=MAX_BATCH, description="SPSA samples per iteration")
    lr: float = Field(SPSA.lr, gt=0, le=1, description="Adam step in [0, 1] input space")
    delta: float = Field(SPSA.delta, gt=0, le=1, description="finite-difference step")

    def build(self, config):
        return SPSA(eps=config.linf, nb_iter=self.nb_iter, nb_sample=self.nb_sample, lr=self.lr,
                    delta=self.delta, seed=config.attack_seed)


def attack_descriptions() -> dict[str, str]:
    """name -> description of every registered attack, for help texts."""
    return {name: cls.description for name, cls in ATTACKS.items()}
