"""Robustness evaluation: bootstrap, the fixed subset, attacks, guards, progress and masking flags."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from torch import nn

from evaluation_fixtures import train_digits_mlp

pytestmark = pytest.mark.usefixtures("one_thread")
from taser_engine.callbacks import Callbacks
from taser_engine.checkpoints import load_model, save_model
from taser_engine.evaluation import (
    EvaluationCancelled, EvaluationConfig, evaluate_model, evaluation_subset, paired_bootstrap_delta,
)

QUICK = dict(n_eval=48, apgd_n_iter=20, spsa_nb_iter=12, spsa_nb_sample=16, spsa_lr=0.02,
             square_n_queries=200, iteration_check=None, batch_size=32)


@pytest.fixture(scope="module")
def undefended(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("undefended")
    save_model(run_dir, train_digits_mlp())
    return load_model(run_dir)


# ---------------------------------------------------------------- bootstrap

def test_bootstrap_matches_the_normal_approximation_of_a_known_proportion():
    n, k = 2000, 600  # with TASER right on 600 more points than without: Δ = 0.3 exactly
    without = np.zeros(n)
    with_ = np.zeros(n)
    with_[:k] = 1
    ci = paired_bootstrap_delta(without, with_, n_boot=20_000, seed=1)
    half_width = 1.959964 * np.sqrt(0.3 * 0.7 / n)  # the CLT interval for a proportion
    assert ci.delta == pytest.approx(0.3)
    assert ci.low == pytest.approx(0.3 - half_width, abs=0.003)
    assert ci.high == pytest.approx(0.3 + half_width, abs=0.003)
    assert ci.excludes_zero


def test_bootstrap_is_paired_identical_runs_give_a_zero_width_interval():
    scores = np.random.default_rng(0).integers(0, 2, 500).astype(float)
    ci = paired_bootstrap_delta(scores, scores.copy())
    assert (ci.delta, ci.low, ci.high) == (0.0, 0.0, 0.0)
    assert not ci.excludes_zero


def test_bootstrap_of_several_pairs_averages_the_per_pair_differences():
    n = 300
    without = np.zeros((2, n))
    with_ = np.stack([np.ones(n), np.zeros(n)])  # +1 on every point for one pair, 0 for the other
    ci = paired_bootstrap_delta(without, with_)
    assert (ci.delta, ci.low, ci.high) == (0.5, 0.5, 0.5)
    with pytest.raises(ValueError, match="equal shapes"):
        paired_bootstrap_delta(np.zeros(3), np.zeros(4))


# ---------------------------------------------------------------- the evaluation subset

def test_the_evaluation_subset_is_identical_across_calls_and_recorded():
    a, b = evaluation_subset("digits", 100, seed=0), evaluation_subset("digits", 100, seed=0)
    assert a.indices == b.indices and a.fingerprint == b.fingerprint
    assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y)
    assert len(set(a.indices)) == 100
    other = evaluation_subset("digits", 100, seed=1)
    assert other.fingerprint != a.fingerprint
    larger = evaluation_subset("digits", 200, seed=0)
    assert larger.indices[:100] == a.indices  # smaller subsets are nested in larger ones
    whole = evaluation_subset("digits", 10_000)  # N_eval above the test set size: all of it
    assert sorted(whole.indices) == list(range(len(whole.indices)))
    assert whole.describe()["n"] == whole.n == len(whole.y)


# ---------------------------------------------------------------- attacks

@pytest.mark.parametrize("attack", ["apgd_ce", "spsa", "square"])
def test_an_undefended_model_loses_accuracy_under_each_attack_and_eps_zero_changes_nothing(undefended, attack):
    attacked = evaluate_model(undefended, EvaluationConfig(attacks=[attack], **QUICK))
    untouched = evaluate_model(undefended, EvaluationConfig(attacks=[attack], eps_linf=0.0, **QUICK))
    assert attacked.clean_acc > 0.8
    assert attacked.robust[attack] < attacked.clean_acc - 0.1
    assert np.array_equal(untouched.attacks[attack].correct, untouched.clean_correct)
    assert np.all(attacked.attacks[attack].correct <= attacked.clean_correct)  # robust implies clean-correct


def test_spsa_estimates_the_gradient_of_the_negative_margin():
    from taser_engine.evaluation import SPSA
    from taser_engine.evaluation.attacks import margin_loss

    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 5))
    x, y = torch.rand(3, 1, 4, 4, requires_grad=True), torch.tensor([0, 1, 2])
    (exact,) = torch.autograd.grad(-margin_loss(model(x), y).sum(), x)
    with torch.no_grad():
        estimate = SPSA(nb_sample=4096)._gradient(model, x.detach(), y, torch.Generator().manual_seed(0))
    cosine = nn.functional.cosine_similarity(estimate.flatten(1), exact.flatten(1))
    assert torch.all(cosine > 0.95)
    assert estimate.norm() == pytest.approx(exact.norm().item(), rel=0.1)


def test_attack_results_are_reproducible_for_a_fixed_seed(undefended):
    config = EvaluationConfig(attacks=["spsa", "apgd_ce"], **QUICK)
    first, second = evaluate_model(undefended, config), evaluate_model(undefended, config)
    for name in ("spsa", "apgd_ce"):
        assert np.array_equal(first.attacks[name].correct, second.attacks[name].correct)


def test_labels_say_which_results_are_autoattack():
    attacks = {a.name: a for a in EvaluationConfig(attacks=["autoattack", "apgd_ce", "autoattack_l2"]).build_attacks()}
    assert attacks["autoattack"].is_autoattack and attacks["autoattack_l2"].is_autoattack
    assert not attacks["apgd_ce"].is_autoattack and "not AutoAttack" in attacks["apgd_ce"].label
    assert attacks["autoattack"].eps == pytest.approx(0.1)  # digits' default L∞ budget
    assert attacks["autoattack_l2"].eps == pytest.approx(0.5) and attacks["autoattack_l2"].norm == "L2"


def test_spsa_defaults_are_the_papers():
    from taser_engine.evaluation import PAPER_EPS_LINF, SPSA

    spsa = SPSA()
    assert (spsa.eps, spsa.nb_iter, spsa.nb_sample) == (PAPER_EPS_LINF, 32, 128)
    assert PAPER_EPS_LINF == 8 / 255


def test_bad_configuration_names_the_field():
    with pytest.raises(ValueError, match="attacks"):
        EvaluationConfig(attacks=["pgd-ish"])
    with pytest.raises(ValueError, match="n_eval"):
        EvaluationConfig(n_eval=0)
    with pytest.raises(ValueError, match="dataset"):
        EvaluationConfig(dataset="imagenet-99")


# ---------------------------------------------------------------- guards and progress

def test_evaluation_leaves_the_global_rngs_and_the_model_state_alone(undefended):
    undefended.train()
    undefended.net[1].weight.requires_grad_(True)
    torch.manual_seed(123), np.random.seed(123), random.seed(123)
    expected = (torch.rand(3), np.random.rand(3), random.random())
    torch.manual_seed(123), np.random.seed(123), random.seed(123)
    evaluate_model(undefended, EvaluationConfig(attacks=["apgd_ce", "spsa"], **QUICK))
    observed = (torch.rand(3), np.random.rand(3), random.random())
    assert torch.equal(expected[0], observed[0])
    assert np.array_equal(expected[1], observed[1]) and expected[2] == observed[2]
    assert undefended.training and all(p.requires_grad for p in undefended.parameters())
    undefended.eval()


class Recorder(Callbacks):
    def __init__(self, stop_after: int | None = None):
        self.progress, self.metrics, self.stop_after = [], [], stop_after

    def on_progress(self, done, total, message=""):
        self.progress.append((done, total, message))

    def on_metrics(self, step, metrics):
        self.metrics.append(metrics)

    def should_stop(self):
        return self.stop_after is not None and len(self.progress) >= self.stop_after


def test_progress_is_reported_per_attack_and_per_batch_and_stop_is_honoured(undefended):
    recorder = Recorder()
    evaluate_model(undefended, EvaluationConfig(attacks=["apgd_ce", "spsa"], **{**QUICK, "batch_size": 16}),
                   callbacks=recorder)
    messages = [m for _, _, m in recorder.progress]
    assert [m for m in messages if m.startswith("SPSA")] == ["SPSA batch 1/3", "SPSA batch 2/3", "SPSA batch 3/3"]
    assert "APGD-CE batch 1/3" in messages  # from AutoAttack's own per-batch log lines
    assert messages[0] == "clean accuracy" and messages[-1] == "evaluation done"
    done = [d for d, _, _ in recorder.progress]
    assert done == sorted(done) and done[-1] == recorder.progress[-1][1]  # one count, to its total
    assert len({t for _, t, _ in recorder.progress}) == 1
    assert {"robust_acc/apgd_ce", "robust_acc/spsa"} <= {k for m in recorder.metrics for k in m}
    for attack in ("spsa", "apgd_ce"):  # our own loop, and AutoAttack's (stopped from its log lines)
        stopper = Recorder(stop_after=2)
        with pytest.raises(EvaluationCancelled):
            evaluate_model(undefended, EvaluationConfig(attacks=[attack], **{**QUICK, "batch_size": 16}),
                           callbacks=stopper)
        assert len(stopper.progress) == 2


# ---------------------------------------------------------------- gradient masking flags

class SaturatedLogits(nn.Module):
    """Logits scaled by 1e4: softmax saturates, cross-entropy gradients vanish in float32 (masking)."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return 1e4 * self.model(x)


class SoftmaxOutputs(SaturatedLogits):
    """Probabilities instead of logits: one of the mistakes AutoAttack's own checks catch."""

    def forward(self, x):
        return self.model(x).softmax(1)


def test_masked_gradients_raise_the_black_box_flag_and_a_plain_model_raises_none(undefended):
    config = EvaluationConfig(attacks=["apgd_ce", "spsa"], **{**QUICK, "iteration_check": (2, 20)})
    plain = {f.name: f for f in evaluate_model(undefended, config).flags}
    masked = {f.name: f for f in evaluate_model(SaturatedLogits(undefended), config).flags}
    assert all(f.checked for f in plain.values()) and not any(f.raised for f in plain.values())
    assert masked["black_box_beats_white_box"].raised
    assert masked["black_box_beats_white_box"].values["points_only_black_box_broke"]["spsa"] > 0


def test_autoattacks_own_check_warnings_are_returned_as_a_flag(undefended):
    result = evaluate_model(SoftmaxOutputs(undefended), EvaluationConfig(attacks=["apgd_ce"], **QUICK))
    flag = {f.name: f for f in result.flags}["autoattack_checks"]
    assert flag.raised and "probability distribution" in flag.detail
    assert any("probability distribution" in w for w in result.attacks["apgd_ce"].warnings)


def test_the_iteration_flag_rises_only_when_more_iterations_leave_more_points_robust():
    from taser_engine.evaluation.masking import iterations_flag

    assert iterations_flag({10: 0.30, 100: 0.40}, tolerance=0.005).raised
    assert not iterations_flag({10: 0.40, 100: 0.30}, tolerance=0.005).raised
    assert not iterations_flag({10: 0.300, 100: 0.304}, tolerance=0.005).raised
    assert not iterations_flag(None, tolerance=0.005).checked


@pytest.mark.slow
def test_standard_autoattack_and_l2_on_an_undefended_model(undefended):
    result = evaluate_model(undefended, EvaluationConfig(
        attacks=["autoattack", "autoattack_l2", "spsa"], n_eval=100, spsa_nb_sample=32))
    assert result.robust["autoattack"] < result.clean_acc - 0.25
    assert result.robust["autoattack_l2"] < result.clean_acc - 0.25
    assert result.robust_avg == pytest.approx((result.robust["autoattack"] + result.robust["spsa"]) / 2)
    assert result.attacks["autoattack"].params["version"] == "standard"
