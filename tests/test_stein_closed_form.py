"""The Stein residual against derivatives worked out by hand, on N(0, I) and N(μ, Σ).

Test function: f(x) = Σ_i sin(w_i x_i) + ½ xᵀAx + bᵀx, so
∇f = w ⊙ cos(w ⊙ x) + Ax + b and Δf = −Σ_i w_i² sin(w_i x_i) + tr A, with Hessian
H = diag(−w² ⊙ sin(w ⊙ x)) + A.
"""

import math

import pytest
import torch

from taser_engine import GaussianScore, stein_residual, stein_terms
from taser_engine.stein import METHODS

D = 4
DT = torch.float64


def _problem(seed=0):
    g = torch.Generator().manual_seed(seed)
    w = torch.rand(D, generator=g, dtype=DT) + 0.5
    m = torch.randn(D, D, generator=g, dtype=DT)
    a = 0.5 * (m + m.T)
    b = torch.randn(D, generator=g, dtype=DT)

    def f(x):
        return torch.sin(w * x).sum(1) + 0.5 * ((x @ a) * x).sum(1) + x @ b

    def grad(x):
        return w * torch.cos(w * x) + x @ a + b

    def laplacian(x):
        return -(w**2 * torch.sin(w * x)).sum(1) + torch.trace(a)

    def hessian(x):
        return torch.diag_embed(-(w**2) * torch.sin(w * x)) + a

    return f, grad, laplacian, hessian


def _sources():
    g = torch.Generator().manual_seed(1)
    mu = torch.randn(D, generator=g, dtype=DT)
    m = torch.randn(D, D, generator=g, dtype=DT)
    full = GaussianScore(mu, m @ m.T + D * torch.eye(D, dtype=DT))
    diag = GaussianScore(mu, torch.rand(D, generator=g, dtype=DT) + 0.5)
    return {"standard": GaussianScore(torch.zeros(D, dtype=DT)), "diag": diag, "full": full}


SOURCES = _sources()


@pytest.mark.parametrize("source", sorted(SOURCES))
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("laplacian", ["none", "exact"])
def test_exact_variants_match_hand_derivation(source, method, laplacian):
    f, grad, lap, _ = _problem()
    score = SOURCES[source]
    x = score.sample(16, torch.Generator().manual_seed(2))
    expected = (score(x) * grad(x)).sum(1)
    if laplacian == "exact":
        expected = expected + lap(x)
    r = stein_residual(f, x, score, laplacian=laplacian, method=method)
    # fd in float64: truncation O(h²) with h = eps^(1/3) (first) and eps^(1/4) (second differences)
    tol = 1e-12 if method != "fd" else 1e-6
    torch.testing.assert_close(r, expected, rtol=tol, atol=tol)


@pytest.mark.parametrize("method", METHODS)
def test_hutchinson_is_unbiased_within_its_standard_error(method):
    f, grad, lap, hess = _problem()
    score = SOURCES["full"]
    x = score.sample(400, torch.Generator().manual_seed(3))
    k = 2
    terms = stein_terms(f, x, score, "hutchinson", num_probes=k, method=method,
                        generator=torch.Generator().manual_seed(4))
    error = terms.laplacian - lap(x)
    h = hess(x)
    off_diagonal = (h**2).sum((1, 2)) - (torch.diagonal(h, dim1=1, dim2=2) ** 2).sum(1)
    # Rademacher probes: Var = 2(‖H‖²_F − Σ H_ii²)/K per sample
    standard_error = math.sqrt((2 * off_diagonal / k).mean().item() / x.shape[0])
    assert abs(error.mean().item()) < 4 * standard_error
    # and the spread matches the theoretical variance (a wrong estimator would not)
    assert error.var().item() == pytest.approx((2 * off_diagonal / k).mean().item(), rel=0.25)


def test_hutchinson_probes_are_shared_across_methods_given_the_same_generator():
    f, *_ = _problem()
    score = SOURCES["diag"]
    x = score.sample(8, torch.Generator().manual_seed(5))
    rs = [stein_residual(f, x, score, "hutchinson", 3, m, torch.Generator().manual_seed(9)) for m in METHODS]
    torch.testing.assert_close(rs[0], rs[1], rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(rs[0], rs[2], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("source", sorted(SOURCES))
def test_stein_identity_holds_by_monte_carlo(source):
    f, *_ = _problem()
    score = SOURCES[source]
    x = score.sample(20000, torch.Generator().manual_seed(6))
    r = stein_residual(f, x, score, laplacian="exact", method="autograd").detach()
    standard_error = r.std().item() / math.sqrt(r.numel())
    assert abs(r.mean().item()) < 4 * standard_error
    # the identity is not vacuous: without the Laplacian the mean is far from zero
    r1 = stein_residual(f, x, score, laplacian="none", method="autograd").detach()
    assert abs(r1.mean().item()) > 10 * r1.std().item() / math.sqrt(r1.numel())


@pytest.mark.parametrize("source", sorted(SOURCES))
def test_sobolev_identity_by_monte_carlo(source):
    """E[(L_p f)²] = E‖∇²f‖²_F + E[∇fᵀ H_p ∇f]; eq. (9) when p = N(0, I), eq. (7) in general."""
    f, grad, _, hess = _problem()
    score = SOURCES[source]
    x = score.sample(20000, torch.Generator().manual_seed(7))
    r = stein_residual(f, x, score, laplacian="exact", method="jvp")
    g = grad(x)
    rhs = (hess(x) ** 2).sum((1, 2)) + ((g @ score.neg_log_hessian()) * g).sum(1)
    difference = r**2 - rhs
    standard_error = difference.std().item() / math.sqrt(difference.numel())
    assert abs(difference.mean().item()) < 4 * standard_error


def test_gaussian_score_is_the_gradient_of_its_log_density():
    for score in SOURCES.values():
        x = score.sample(5, torch.Generator().manual_seed(8)).requires_grad_(True)
        (expected,) = torch.autograd.grad(score.log_prob(x).sum(), x)
        torch.testing.assert_close(score(x.detach()), expected)


def test_bad_arguments_are_refused_with_a_clear_message():
    f, *_ = _problem()
    x = torch.zeros(2, D, dtype=DT)
    with pytest.raises(ValueError, match="laplacian"):
        stein_residual(f, x, x, laplacian="hessian")
    with pytest.raises(ValueError, match="method"):
        stein_residual(f, x, x, method="reverse")
    with pytest.raises(ValueError, match="num_probes"):
        stein_residual(f, x, x, laplacian="hutchinson", num_probes=0)
    with pytest.raises(ValueError, match="shape"):
        stein_residual(f, x, torch.zeros(2, D + 1, dtype=DT))
