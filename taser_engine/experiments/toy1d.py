"""The 1D extrapolation study (paper section 5.1, Table 1, Figure 2).

A small MLP f: R → R is fit to y = target(x) on x ~ p, with either ℓ2 weight decay or the
squared Stein residual `L_p f(x) = f''(x) + s(x) f'(x)` (s = −x for the paper's N(0, 1)), over
a λ grid, then scored on fresh samples from p (ID MSE) and on a wide uniform grid (OOD MSE).

Speed: every (regulariser, λ, seed) model of a study is trained at once as one stack of
independent networks (weights of shape (M, in, out), batched matmul), full batch, with Adam.
Adam's update is element-wise and the summed loss separates over models, so this is exactly
M independent trainings. f' and f'' come from an exact Taylor-mode forward pass (value, first
and second derivative pushed through each layer with closed-form activation derivatives):
exact in 1D, about three forward passes, no double backward. `stein_residual(...,
laplacian="exact", method="autograd")` of `taser_engine.stein` computes the same residual
and is used in the tests as the reference.

`train_single` trains one configuration (a few seconds; the dashboard calls it directly);
`run_study` runs the grid and returns the JSON-ready dict of the `taser toy1d` contract.
"""

from __future__ import annotations

import math
import platform
import time
from dataclasses import dataclass
from typing import Annotated, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from torch import Tensor

from taser_engine.activation_derivatives import BY_NAME
from taser_engine.callbacks import Callbacks, or_default
from taser_engine.fields import MAX_LIST, MAX_LOSS_WEIGHT, MAX_SEED
from taser_engine.experiments.toy1d_problems import get_distribution, get_target

Regulariser = Literal["l2", "stein"]
Activation = Literal["tanh", "softplus", "silu", "gelu", "relu"]
REGULARISERS: tuple[str, ...] = ("l2", "stein")
PAPER_LAMBDAS = [0.0, 1e-4, 1e-3, 1e-2, 1e-1]
PROGRESS_EVERY = 50  # steps between progress reports and should_stop polls


class Toy1DConfig(BaseModel):
    """Everything that defines a 1D study. Paper values are defaults where the paper states them
    (N(0, 1) inputs, sin target, the λ grid); the rest are this project's recorded choices."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    seeds: int = Field(5, ge=1, le=100, description="number of seeds (data sample + initialisation)")
    base_seed: int = Field(0, ge=0, le=MAX_SEED - 100, description=  # base_seed + seeds stays a valid seed
                           "seeds are base_seed, base_seed+1, ...")
    lambdas: list[Annotated[float, Field(ge=0, le=MAX_LOSS_WEIGHT)]] = Field(
        default_factory=lambda: list(PAPER_LAMBDAS), min_length=1, max_length=MAX_LIST,
        description="the λ grid (the paper: 0, 1e-4, 1e-3, 1e-2, 1e-1)")
    regularisers: list[Regulariser] = Field(default_factory=lambda: list(REGULARISERS), min_length=1,
                                            max_length=MAX_LIST, description="regularisers compared")
    distribution: Literal["gaussian", "mixture", "student_t", "logistic"] = Field(
        "gaussian", description="input distribution p (the paper: N(0, 1))")
    target: Literal["sin", "sin3", "tanh", "linear", "cubic"] = Field("sin", description="target function (the paper: sin)")
    n_train: int = Field(256, ge=2, le=100_000, description="training samples from p")
    n_test: int = Field(4096, ge=2, le=1_000_000, description="fresh samples from p for the ID MSE")
    width: int = Field(32, ge=1, le=1024, description="hidden units per layer")
    depth: int = Field(2, ge=1, le=8, description="number of hidden layers")
    activation: Activation = Field("tanh", description="activation of the hidden layers")
    epochs: int = Field(2000, ge=1, le=200_000, description="full-batch Adam steps")
    lr: float = Field(3e-3, gt=0, le=1.0, description="Adam learning rate")
    stein_centering: Literal["none", "batch"] = Field(
        "none", description="'none': mean r² (section 5.1); 'batch': mean (r − r̄)² (Algorithm 1)")
    # the OOD grid; inputs are N(0, 1)-like, so ±10,000 is far beyond any extrapolation of interest
    grid_min: float = Field(-8.0, ge=-1e4, le=1e4, description="left end of the OOD grid")
    grid_max: float = Field(8.0, ge=-1e4, le=1e4, description="right end of the OOD grid")
    grid_points: int = Field(801, ge=2, le=100_000, description="points of the OOD grid")

    @field_validator("lambdas")
    @classmethod
    def _lambdas_sorted(cls, value: list[float]) -> list[float]:
        return sorted(set(value))

    @field_validator("regularisers")
    @classmethod
    def _unique_regularisers(cls, value: list[str]) -> list[str]:
        return [r for r in REGULARISERS if r in value]

    @model_validator(mode="after")
    def _grid_is_ordered(self) -> "Toy1DConfig":
        if not self.grid_max > self.grid_min:
            raise ValueError(f"grid_max ({self.grid_max}) must be greater than grid_min ({self.grid_min})")
        return self

    def seed_list(self) -> list[int]:
        return list(range(self.base_seed, self.base_seed + self.seeds))

    def cells(self) -> list[tuple[str, float]]:
        """(regulariser, λ) pairs of the study; Stein needs λ > 0 (at λ = 0 it is plain L2)."""
        return [(reg, lam) for reg in self.regularisers for lam in self.lambdas
                if not (reg == "stein" and lam == 0.0)]


# ---------------------------------------------------------------- stacked MLP with derivatives

def _activation_derivatives(name: str, z: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """σ(z), σ'(z), σ''(z) in closed form."""
    if name not in BY_NAME:
        raise ValueError(f"unknown activation {name!r}")
    return BY_NAME[name](z)


@dataclass
class StackedMLP:
    """M independent MLPs R → R: weights[i] (M, in, out), biases[i] (M, 1, out)."""

    weights: list[Tensor]
    biases: list[Tensor]
    activation: str

    def parameters(self) -> list[Tensor]:
        return self.weights + self.biases

    def forward(self, x: Tensor, derivatives: bool = False) -> tuple[Tensor, Tensor | None, Tensor | None]:
        """x (M, N) → f, f', f'' each (M, N); derivatives in x, exact (Taylor mode)."""
        h = x.unsqueeze(-1)
        d1 = torch.ones_like(h) if derivatives else None
        d2 = torch.zeros_like(h) if derivatives else None
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            z = torch.baddbmm(b, h, w)
            if derivatives:
                z1, z2 = torch.bmm(d1, w), torch.bmm(d2, w)
            if i == last:
                h, d1, d2 = z, (z1 if derivatives else None), (z2 if derivatives else None)
                break
            h, s1, s2 = _activation_derivatives(self.activation, z)
            if derivatives:
                d1, d2 = s1 * z1, s2 * z1 * z1 + s1 * z2
        squeeze = (lambda t: t.squeeze(-1) if t is not None else None)
        return squeeze(h), squeeze(d1), squeeze(d2)

    def weight_sq_norm(self) -> Tensor:
        """Σ‖W‖² over weight matrices (biases not decayed), per model (M,)."""
        return sum(w.pow(2).sum(dim=(1, 2)) for w in self.weights)


def init_stacked_mlp(seeds: list[int], width: int, depth: int, activation: str) -> StackedMLP:
    """One network per seed, PyTorch's nn.Linear default init (U(±1/√fan_in) weights and biases)."""
    sizes = [1] + [width] * depth + [1]
    weights: list[list[Tensor]] = [[] for _ in range(len(sizes) - 1)]
    biases: list[list[Tensor]] = [[] for _ in range(len(sizes) - 1)]
    for seed in seeds:
        g = torch.Generator().manual_seed(1_000_003 * seed + 17)
        for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            bound = 1 / math.sqrt(fan_in)
            weights[i].append((torch.rand(fan_in, fan_out, generator=g) * 2 - 1) * bound)
            biases[i].append((torch.rand(1, fan_out, generator=g) * 2 - 1) * bound)
    return StackedMLP([torch.stack(w) for w in weights], [torch.stack(b) for b in biases], activation)


def _tile_models(net: StackedMLP, times: int) -> StackedMLP:
    """Repeat the stack `times` times (configuration-major): every cell starts from the same inits."""
    rep = lambda t: t.repeat(times, 1, 1).clone().requires_grad_(True)
    return StackedMLP([rep(w) for w in net.weights], [rep(b) for b in net.biases], net.activation)


# ---------------------------------------------------------------- training

@dataclass
class TrainedStack:
    """The trained models of one study, model m = cell index * n_seeds + seed index."""

    net: StackedMLP
    cells: list[tuple[str, float]]
    seeds: list[int]
    x_train: Tensor  # (S, n_train)
    stopped_early: bool
    steps: int


def stein_residual_1d(net: StackedMLP, x: Tensor, score: Tensor) -> Tensor:
    """r = f''(x) + s(x) f'(x) per model and point, (M, N)."""
    _, d1, d2 = net.forward(x, derivatives=True)
    return d2 + score * d1


def _training_data(config: Toy1DConfig, seeds: list[int]) -> tuple[Tensor, Tensor]:
    dist, target = get_distribution(config.distribution), get_target(config.target)
    xs = torch.stack([dist.sample(config.n_train, torch.Generator().manual_seed(seed)) for seed in seeds])
    return xs, target(xs)


def _stein_penalty(residual: Tensor, centering: str) -> Tensor:
    if centering == "batch":
        residual = residual - residual.mean(dim=1, keepdim=True).detach()
    return residual.pow(2).mean(dim=1)


def train_stack(config: Toy1DConfig, cells: list[tuple[str, float]], seeds: list[int],
                callbacks: Callbacks | None = None, progress_offset: int = 0,
                progress_total: int | None = None) -> TrainedStack:
    """Train len(cells) × len(seeds) independent networks jointly (see module docstring)."""
    cb = or_default(callbacks)
    x_one, y_one = _training_data(config, seeds)
    n_cells = len(cells)
    x_train, y_train = x_one.repeat(n_cells, 1), y_one.repeat(n_cells, 1)
    score = get_distribution(config.distribution).score(x_train)
    lam_l2 = torch.tensor([lam if reg == "l2" else 0.0 for reg, lam in cells]).repeat_interleave(len(seeds))
    lam_stein = torch.tensor([lam if reg == "stein" else 0.0 for reg, lam in cells]).repeat_interleave(len(seeds))
    need_stein = bool((lam_stein > 0).any())
    net = _tile_models(init_stacked_mlp(seeds, config.width, config.depth, config.activation), n_cells)
    optimiser = torch.optim.Adam(net.parameters(), lr=config.lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=config.epochs)
    total = progress_total if progress_total is not None else config.epochs
    stopped, step = False, 0
    for step in range(1, config.epochs + 1):
        f, d1, d2 = net.forward(x_train, derivatives=need_stein)
        mse = (f - y_train).pow(2).mean(dim=1)
        loss = mse + lam_l2 * net.weight_sq_norm()
        if need_stein:
            loss = loss + lam_stein * _stein_penalty(d2 + score * d1, config.stein_centering)
        optimiser.zero_grad(set_to_none=True)
        loss.sum().backward()
        optimiser.step()
        schedule.step()
        if step % PROGRESS_EVERY == 0 or step == config.epochs:
            cb.on_progress(progress_offset + step, total, f"toy1d {cells[0][0]}: step {step}/{config.epochs}")
            cb.on_metrics(step, {"train_mse_mean": mse.mean().item()})
            if cb.should_stop():
                stopped = True
                break
    return TrainedStack(net, cells, seeds, x_one, stopped, step)


# ---------------------------------------------------------------- evaluation

def ood_grid(config: Toy1DConfig) -> Tensor:
    return torch.linspace(config.grid_min, config.grid_max, config.grid_points)


def _id_test_inputs(config: Toy1DConfig) -> Tensor:
    # One fixed test sample for every model, independent of the training seeds.
    return get_distribution(config.distribution).sample(config.n_test, torch.Generator().manual_seed(2**31 - 1))


@torch.no_grad()
def _predict(net: StackedMLP, x: Tensor) -> Tensor:
    return net.forward(x.expand(net.weights[0].shape[0], -1).contiguous())[0]


def evaluate_stack(config: Toy1DConfig, trained: TrainedStack) -> dict[str, Tensor]:
    """Per-model metrics (M,) and OOD-grid predictions (M, grid_points)."""
    target = get_target(config.target)
    x_id, grid = _id_test_inputs(config), ood_grid(config)
    id_mse = (_predict(trained.net, x_id) - target(x_id)).pow(2).mean(dim=1)
    grid_pred = _predict(trained.net, grid)
    ood_mse = (grid_pred - target(grid)).pow(2).mean(dim=1)
    x_train = trained.x_train.repeat(len(trained.cells), 1)
    train_pred = _predict(trained.net, x_train)
    train_mse = (train_pred - target(x_train)).pow(2).mean(dim=1)
    score = get_distribution(config.distribution).score(x_train)
    residual = stein_residual_1d(trained.net, x_train, score).detach()
    return {"id_mse": id_mse, "ood_mse": ood_mse, "train_mse": train_mse,
            "stein_sq_train": residual.pow(2).mean(dim=1), "grid_pred": grid_pred}


# ---------------------------------------------------------------- public API

@dataclass
class SingleResult:
    """One trained configuration, ready to plot: predictions on the OOD grid."""

    regulariser: str
    lam: float
    seed: int
    grid: list[float]
    prediction: list[float]
    truth: list[float]
    density: list[float]
    x_train: list[float]
    id_mse: float
    ood_mse: float
    train_mse: float
    stein_sq_train: float
    wall_s: float


def train_single(regulariser: Regulariser = "stein", lam: float = 1e-2, seed: int = 0,
                 config: Toy1DConfig | None = None, **overrides) -> SingleResult:
    """Train ONE (regulariser, λ, seed) model and return its curve. `overrides` are Toy1DConfig
    fields (e.g. width=32, target="tanh"); with the defaults it takes a few seconds on a CPU."""
    if regulariser not in REGULARISERS:
        raise ValueError(f"regulariser must be one of {REGULARISERS}, got {regulariser!r}")
    base = (config or Toy1DConfig()).model_dump()
    base.update(overrides)
    cfg = Toy1DConfig.model_validate(base)
    start = time.perf_counter()
    trained = train_stack(cfg, [(regulariser, float(lam))], [seed])
    metrics = evaluate_stack(cfg, trained)
    grid = ood_grid(cfg)
    dist = get_distribution(cfg.distribution)
    return SingleResult(
        regulariser=regulariser, lam=float(lam), seed=seed, grid=grid.tolist(),
        prediction=metrics["grid_pred"][0].tolist(), truth=get_target(cfg.target)(grid).tolist(),
        density=dist.density(grid).tolist(), x_train=trained.x_train[0].tolist(),
        id_mse=metrics["id_mse"][0].item(), ood_mse=metrics["ood_mse"][0].item(),
        train_mse=metrics["train_mse"][0].item(), stein_sq_train=metrics["stein_sq_train"][0].item(),
        wall_s=time.perf_counter() - start)


def _mean_std(values: Tensor) -> tuple[float, float]:
    std = values.std(unbiased=True).item() if values.numel() > 1 else 0.0
    return values.mean().item(), std


def _rows(config: Toy1DConfig, trained: TrainedStack, metrics: dict[str, Tensor]) -> list[dict]:
    n_seeds, rows = len(trained.seeds), []
    for c, (reg, lam) in enumerate(trained.cells):
        sl = slice(c * n_seeds, (c + 1) * n_seeds)
        id_mean, id_std = _mean_std(metrics["id_mse"][sl])
        ood_mean, ood_std = _mean_std(metrics["ood_mse"][sl])
        rows.append({
            "regulariser": reg, "lambda": lam,
            "id_mse_mean": id_mean, "id_mse_std": id_std,
            "ood_mse_mean": ood_mean, "ood_mse_std": ood_std,
            "train_mse_mean": metrics["train_mse"][sl].mean().item(),
            "stein_residual_sq_train_mean": metrics["stein_sq_train"][sl].mean().item(),
            "seeds": list(trained.seeds),
            "per_seed": [
                {"seed": s, "id_mse": metrics["id_mse"][sl][i].item(),
                 "ood_mse": metrics["ood_mse"][sl][i].item(),
                 "train_mse": metrics["train_mse"][sl][i].item(),
                 "stein_residual_sq_train": metrics["stein_sq_train"][sl][i].item()}
                for i, s in enumerate(trained.seeds)],
        })
    return rows


def _rounded(t: Tensor) -> list:
    # Curves are for plotting: 5 decimals keep the JSON small without visible change.
    return torch.round(t.double(), decimals=5).tolist()


def _curves(config: Toy1DConfig, trained: TrainedStack, metrics: dict[str, Tensor]) -> dict:
    grid = ood_grid(config)
    n_seeds = len(trained.seeds)
    return {
        "x": _rounded(grid),
        "truth": _rounded(get_target(config.target)(grid)),
        "density": _rounded(get_distribution(config.distribution).density(grid)),
        "predictions": [
            {"regulariser": reg, "lambda": lam,
             "per_seed": _rounded(metrics["grid_pred"][c * n_seeds:(c + 1) * n_seeds])}
            for c, (reg, lam) in enumerate(trained.cells)],
    }


def study_settings(config: Toy1DConfig) -> dict:
    """Every protocol choice, including the ones the paper leaves unstated."""
    dist = get_distribution(config.distribution)
    hidden = " → ".join([str(config.width)] * config.depth)
    return {
        **config.model_dump(),
        "seed_list": config.seed_list(),
        "input_distribution": dist.description,
        "network": f"MLP 1 → {hidden} → 1, {config.activation}, PyTorch nn.Linear default init",
        "optimiser": f"Adam(lr={config.lr:g}, betas=(0.9, 0.999)), cosine annealing to 0, "
                     f"{config.epochs} full-batch steps on n_train={config.n_train} points",
        "l2_penalty": "λ · Σ‖W‖² over weight matrices (biases not decayed), added to the MSE",
        "stein_penalty": ("λ · mean_i r(x_i)², r = f''(x) + s(x) f'(x), exact derivatives "
                          "(Taylor-mode forward), s the closed-form score of p"
                          + (", r centred by its detached batch mean" if config.stein_centering == "batch" else "")),
        "id_metric": f"MSE on {config.n_test} fresh samples from p (one fixed test sample for all models)",
        "ood_metric": f"MSE on a uniform grid of {config.grid_points} points on "
                      f"[{config.grid_min:g}, {config.grid_max:g}] (the ID region included)",
        "seeds_meaning": "seed k sets the training sample and the initialisation; the same k is "
                         "shared by every (regulariser, λ) cell (paired comparison)",
        "std": "sample standard deviation over seeds (ddof = 1)",
        "stein_at_lambda_0": "skipped: with λ = 0 Stein training is plain unregularised training",
    }


def run_study(config: Toy1DConfig, callbacks: Callbacks | None = None) -> dict:
    """Train the whole (regulariser, λ, seed) grid and return the study's JSON-ready dict."""
    cb = or_default(callbacks)
    start = time.perf_counter()
    trained, metrics = [], []
    groups = _cell_groups(config)
    for g, cells in enumerate(groups):
        # L2 and Stein in separate stacks: the L2 stack skips the derivative passes.
        stack = train_stack(config, cells, config.seed_list(), cb, progress_offset=g * config.epochs,
                            progress_total=len(groups) * config.epochs)
        trained.append(stack)
        metrics.append(evaluate_stack(config, stack))
        if stack.stopped_early:
            break
    settings = study_settings(config)
    settings.update({"torch": torch.__version__, "threads": torch.get_num_threads(),
                     "machine": platform.machine(), "steps_run": [t.steps for t in trained],
                     "stopped_early": any(t.stopped_early for t in trained)})
    rows = [row for t, m in zip(trained, metrics) for row in _rows(config, t, m)]
    predictions = [p for t, m in zip(trained, metrics) for p in _curves(config, t, m)["predictions"]]
    curves = {**_curves(config, trained[0], metrics[0]), "predictions": predictions}
    return {"settings": settings, "rows": rows, "curves": curves,
            "wall_s": time.perf_counter() - start}


def _cell_groups(config: Toy1DConfig) -> list[list[tuple[str, float]]]:
    cells = config.cells()
    groups = [[c for c in cells if c[0] == reg] for reg in REGULARISERS]
    return [g for g in groups if g]
