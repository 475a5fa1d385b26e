"""Registries: a new dataset, objective or attack is one class plus one registration, and is then
accepted by the configs and listed as a choice; unknown names say which names are known; the
alignment job and training build the same Gaussian score."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import pytest
import torch
import torch.nn.functional as F
from pydantic import BaseModel, ValidationError
from torch.utils.data import TensorDataset

from taser_engine.datasets import DATASETS, DatasetInfo, load_dataset
from taser_engine.evaluation import ATTACKS, EvaluationConfig, NamedAttack
from taser_engine.evaluation.attacks import Attack, AttackOutcome
from taser_engine.objectives import OBJECTIVES, BaseLoss, Objective, build_objective, method_title, table2_order
from taser_engine.registry import Registry, field_choices
from taser_engine.training import TrainConfig


@pytest.fixture
def registered():
    """Registers entries for one test and removes them afterwards."""
    added: list[tuple[Registry, str]] = []

    def register(registry: Registry, name: str, entry):
        registry.register(name, entry)
        added.append((registry, name))
        return entry

    yield register
    for registry, name in added:
        registry.unregister(name)


# ---------------------------------------------------------------- the Registry itself

def test_registry_decorator_lookup_and_readable_errors():
    things = Registry("thing")

    @things.register("b")
    class B:
        pass

    things.register("a", 1)
    assert things.get("b") is B and things["a"] == 1 and things.names() == ("b", "a") and "a" in things
    with pytest.raises(ValueError, match=r"unknown thing 'zz'; choose one of b, a"):
        things.get("zz")
    with pytest.raises(ValueError, match="already registered"):
        things.register("a", 2)

    class Config(BaseModel):
        name: things.Name = "a"
        names: list[things.Name] = []
        maybe: things.Name | None = None
        fixed: Literal["x", "y"] = "x"

    with pytest.raises(ValidationError, match=r"unknown thing 'q'; choose one of b, a"):
        Config(name="q")
    things.register("late", 3)  # checked when a config is validated, not when its class was made
    assert Config(name="late", names=["late"], maybe="late").name == "late"
    assert field_choices(Config, "name") == field_choices(Config, "names") == ("b", "a", "late")
    assert field_choices(Config, "maybe") == ("b", "a", "late")
    assert field_choices(Config, "fixed") == ("x", "y")
    assert Config.model_json_schema()["properties"]["name"]["enum"] == ["b", "a", "late"]


# ---------------------------------------------------------------- a toy dataset

@dataclass(frozen=True)
class Stripes(DatasetInfo):
    """Eight 4×4 images per split: a bright row (class 0) or a bright column (class 1)."""

    def load(self, split, root, download) -> TensorDataset:
        x = torch.zeros(8, 1, 4, 4)
        y = torch.arange(8) % 2
        for i in range(8):
            if y[i] == 0:
                x[i, 0, i % 4, :] = 1.0
            else:
                x[i, 0, :, i % 4] = 1.0
        return TensorDataset(x, y)


def test_a_new_dataset_is_one_class_and_one_registration(registered):
    registered(DATASETS, "stripes", Stripes("stripes", 1, 4, 2, eps_linf=0.1, eps_l2=0.5))
    assert "stripes" in field_choices(TrainConfig, "dataset")
    assert "stripes" in field_choices(EvaluationConfig, "dataset")
    config = TrainConfig(dataset="stripes", epochs=1)
    spec = config.model_spec()
    assert (spec.in_channels, spec.image_size, spec.num_classes, spec.arch) == (1, 4, 2, "small_cnn")
    assert EvaluationConfig(dataset="stripes").linf == 0.1
    x, y = load_dataset("stripes", "train").tensors
    assert x.shape == (8, 1, 4, 4) and set(y.tolist()) == {0, 1}


def test_unknown_dataset_lists_the_known_ones():
    with pytest.raises(ValidationError, match=r"unknown dataset 'imagenet'; choose one of digits, cifar10, mnist"):
        TrainConfig(dataset="imagenet", epochs=1)


# ---------------------------------------------------------------- a toy objective

class Squared(Objective):
    """A clean loss on squared logits: enough to show a method plugs in."""

    method: Literal["squared"] = "squared"
    title = "Squared"
    table2_rank = 99
    scale: float = 1.0

    def loss_from(self, model, x, x_adv, y) -> BaseLoss:
        logits = model(x)
        return BaseLoss(self.scale * F.cross_entropy(logits ** 2, y), logits=logits)


def test_a_new_objective_is_one_class_and_one_registration(registered):
    registered(OBJECTIVES, "squared", Squared)
    assert "squared" in field_choices(TrainConfig, "method")
    assert TrainConfig(method="squared", epochs=1).method == "squared"
    objective = build_objective("squared", scale=2.0, beta=6.0)  # params it does not have are ignored
    assert isinstance(objective, Squared) and objective.scale == 2.0
    assert method_title("squared") == "Squared" and table2_order()[-1] == "squared"
    config = TrainConfig(method="squared", method_params={"scale": 3.0}, epochs=1)
    assert build_objective(config.method, **config.objective_params()).scale == 3.0
    with pytest.raises(ValidationError, match=r"method_params: 'squared' has no parameter\(s\) gamma; it takes scale"):
        TrainConfig(method="squared", method_params={"gamma": 1}, epochs=1)
    with pytest.raises(ValidationError, match="method_params: scale: Input should be a valid number"):
        TrainConfig(method="squared", method_params={"scale": "big"}, epochs=1)


def test_built_in_objectives_keep_the_paper_titles_and_orders():
    from taser_engine.objectives import table3_order

    assert table2_order() == ["standard", "pgd", "trades", "mart", "trades_awp", "mart_awp"]
    assert table3_order() == ["standard", "pgd", "trades", "trades_awp", "mart", "mart_awp"]
    assert [method_title(k) for k in ("standard", "trades_awp", "mart-awp")] == ["Vanilla", "TRADES + AWP",
                                                                                 "MART + AWP"]


def test_unknown_method_lists_the_known_ones():
    with pytest.raises(ValidationError, match=r"unknown method 'sgd'; choose one of standard, pgd, trades"):
        TrainConfig(method="sgd", epochs=1)


# ---------------------------------------------------------------- a toy attack

@dataclass
class Noise(Attack):
    """Uniform noise in the ε-ball: robust iff the noisy point is still classified right."""

    eps: float = 0.1
    seed: int = 0
    name = "noise"

    @property
    def label(self) -> str:
        return f"uniform noise (eps={self.eps:.4g})"

    def run(self, model, x, y, *, batch_size, progress) -> AttackOutcome:
        generator = torch.Generator().manual_seed(self.seed)
        noisy = (x + self.eps * (2 * torch.rand(x.shape, generator=generator) - 1)).clamp(0, 1)
        with torch.no_grad():
            return AttackOutcome(correct=(model(x).argmax(1) == y) & (model(noisy).argmax(1) == y))


class NoiseAttack(NamedAttack):
    description = "uniform noise, L∞ (a sanity check)"
    scale: float = 1.0

    def build(self, config):
        return Noise(eps=self.scale * config.linf, seed=config.attack_seed)


def test_a_new_attack_is_one_class_and_one_registration(registered):
    registered(ATTACKS, "noise", NoiseAttack)
    assert "noise" in field_choices(EvaluationConfig, "attacks")
    config = EvaluationConfig(attacks=["noise", "spsa"], attack_params={"noise": {"scale": 0.5}})
    noise, spsa = config.build_attacks()
    assert isinstance(noise, Noise) and noise.eps == pytest.approx(0.5 * config.linf)
    with pytest.raises(ValidationError, match=r"attack_params.noise: scale: Input should be a valid number"):
        EvaluationConfig(attacks=["noise"], attack_params={"noise": {"scale": "big"}})


def test_attack_params_override_the_flat_fields_of_stored_configs():
    stored = EvaluationConfig(attacks=["spsa", "apgd_ce"], spsa_nb_iter=8, apgd_n_iter=5)
    spsa, apgd = stored.build_attacks()
    assert (spsa.nb_iter, apgd.n_iter) == (8, 5)
    nested = EvaluationConfig(attacks=["spsa"], spsa_nb_iter=8, attack_params={"spsa": {"nb_iter": 3}})
    assert nested.build_attacks()[0].nb_iter == 3
    with pytest.raises(ValidationError, match=r"attack_params.spsa: nb_sample"):
        EvaluationConfig(attack_params={"spsa": {"nb_sample": 10**9}})
    with pytest.raises(ValidationError, match="attack_params.spsa: nb_iterations: Extra inputs"):
        EvaluationConfig(attack_params={"spsa": {"nb_iterations": 3}})


def test_unknown_attack_lists_the_known_ones():
    with pytest.raises(ValidationError, match=r"unknown attack 'fgsm'; choose one of autoattack, autoattack_l2"):
        EvaluationConfig(attacks=["APGD-CE", "fgsm"])
    with pytest.raises(ValidationError, match="unknown attack 'fgsm'"):
        EvaluationConfig(attack_params={"fgsm": {}})
    assert EvaluationConfig(attacks=["APGD-CE", "apgd_ce"]).attacks == ["apgd_ce"]


# ---------------------------------------------------------------- one score-source path

def test_alignment_and_training_build_the_same_gaussian_score():
    from app.jobs.alignment import Config as AlignmentConfig
    from app.jobs.alignment import score_source
    from taser_engine.scores.sources import GAUSSIAN_VAR_FLOOR
    from taser_engine.training.scores import build_run_scores

    train_x = load_dataset("digits", "train").tensors[0]
    training = build_run_scores(TrainConfig(epochs=1, taser=True), train_x, torch.device("cpu")).source
    alignment = score_source(AlignmentConfig(model_run=1), train_x)
    torch.testing.assert_close(alignment.cov, training.cov)
    torch.testing.assert_close(alignment.mean, training.mean)
    assert training.cov.min().item() == pytest.approx(GAUSSIAN_VAR_FLOOR)  # digits' constant border
    x = train_x[:5]
    torch.testing.assert_close(alignment(x), training(x))


def test_alignment_diffusion_score_needs_a_model():
    from app.jobs.alignment import Config as AlignmentConfig

    with pytest.raises(ValidationError, match="score_model: needed with score 'diffusion'"):
        AlignmentConfig(model_run=1, score="diffusion")
    with pytest.raises(ValidationError, match="unknown score source 'laplace'; choose one of gaussian, diffusion"):
        AlignmentConfig(model_run=1, score="laplace")
