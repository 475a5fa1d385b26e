"""One optimiser step and its metrics, in one of three regimes; `build_stepper` chooses.

- `SeparatePenaltyStepper`: base loss and its backward, then the penalty and its backward into
  the same gradients (the general case, and the one without TASER).
- `SharedForwardStepper`: the penalty's tangent batch also gives the clean base loss its logits;
  one forward, one backward (BatchNorm frozen or the penalty on the batch's statistics,
  whole-batch penalty, non-adversarial objective).
- `DataParallelStepper`: this process's shard, base loss through the DDP wrapper, penalty on the
  bare module, one backward of their sum.

`Stepper` (the base) holds what every regime shares: the batch, the learning rate and mode, the
base loss (+ α·KL when fine-tuning) and the penalty, the optimiser update with its non-finite flag.
Timing is the base's too: a step runs three phases (`first_phase`, `second_phase`, `finish`) with
a `StepTimer` mark between them, so a regime's phases hold only its maths and it names, in
`penalty_seconds`, which of the laps are the penalty's.

Nothing in a step waits for the device: metrics stay tensors on it (the loop fetches them every
`log_every_steps`), the non-finite check accumulates a device flag (`check_finite` reads it at
those moments and before every checkpoint), and the phase timer records CUDA events. The
placement test runs a whole step on the `meta` device, where any host read of a value would raise.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from taser_engine.datasets import augment_batch
from taser_engine.modes import freeze_batchnorm
from taser_engine.penalty import PenaltyResult, taser_penalty
from taser_engine.schedules import lambda_ramp
from taser_engine.training import distributed
from taser_engine.training.timing import PenaltyRule, StepTimer, lap, no_penalty

if TYPE_CHECKING:
    from taser_engine.training.loop import _Setup

Metrics = dict[str, "Tensor | float"]


class NonFiniteLossError(FloatingPointError):
    """The loss became NaN or infinite; the weights were not updated with it."""


@dataclass
class StepWork:
    """One step's inputs and what its phases have computed so far."""
    x: Tensor
    y: Tensor
    epoch: int
    step: int
    score: Tensor | None
    loss: Tensor | None = None
    metrics: Metrics = field(default_factory=dict)
    penalty: PenaltyResult | None = None


def autocast(setup: _Setup):
    if setup.config.amp and setup.device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


class Stepper:
    """The shared bookkeeping of a step; subclasses write its three phases."""

    base_probe_every = 0  # steps between timings of the base step alone (SharedForwardStepper)

    def __init__(self, setup: _Setup, total_steps: int, generators: dict[str, torch.Generator]):
        self.setup = setup
        self.total_steps = total_steps
        self.generators = generators
        self.lambda_warmup_steps = round(setup.config.lambda_warmup_fraction * total_steps)
        self.share = 1.0  # this process's share n_rank/B of the current global batch
        self.timer = StepTimer(setup.device)
        self.nonfinite = torch.zeros((), dtype=torch.bool, device=setup.device)
        self.checked_through = 0  # steps whose losses check_finite has seen finite

    @property
    def taser(self) -> bool:
        return self.setup.scores.source is not None

    def batch(self, index: Tensor) -> tuple[Tensor, Tensor, Tensor | None]:
        """The step's (augmented) images, labels, and their cached scores when the run has a cache.

        `index` is on the run's device (the loop moves each epoch's order there once).
        """
        data, ranks, cached = self.setup.data, self.setup.ranks, self.setup.scores.cached
        if ranks is not None:
            global_size = index.numel()
            index = distributed.shard(index, ranks)
            self.share = index.numel() / global_size
        x, y = data["train_x"][index], data["train_y"][index]
        score = cached[index].float() if cached is not None else None
        if self.setup.config.use_augmentation:
            if score is None:
                x = augment_batch(x, self.generators["augment"])
            else:
                x, score = augment_batch(x, self.generators["augment"], score=score)
        return x, y, score

    def __call__(self, x: Tensor, y: Tensor, epoch: int, step: int, score: Tensor | None = None) -> Metrics:
        work = StepWork(x, y, epoch, step, score)
        timer = self.timer
        timer.begin()
        self.first_phase(work)
        timer.mark()
        self.second_phase(work)
        timer.mark()
        self.finish(work)
        timer.end(self.samples(work), self.penalty_seconds(work))
        self.after_step(work)
        return work.metrics

    def flush_timing(self, timing: dict[str, float]) -> None:
        """Add the timed steps to the run's timing dict (see `training.timing`)."""
        self.timer.flush(timing)

    # -- what a regime writes -------------------------------------------------------------------

    def first_phase(self, work: StepWork) -> None:
        raise NotImplementedError

    def second_phase(self, work: StepWork) -> None:
        """Nothing, unless the regime times the penalty as a phase of its own."""

    def finish(self, work: StepWork) -> None:
        """The update with the step's total loss."""
        self._update(work.loss)
        work.metrics["loss/total"] = work.loss.detach()

    def after_step(self, work: StepWork) -> None:
        """Outside the timed step: nothing, unless the regime measures something beside it."""

    def penalty_seconds(self, work: StepWork) -> PenaltyRule:
        """Which of the laps (first phase, second phase, finish) are the penalty's time."""
        return lap(1) if self.taser else no_penalty

    def samples(self, work: StepWork) -> float:
        return work.x.shape[0]

    # -- shared maths ---------------------------------------------------------------------------

    def _penalty(self, work: StepWork, training_forward: bool = False) -> Tensor:
        """λ(t), with R_TASER on the clean batch in `work.penalty` and its metrics recorded;
        under AWP at the perturbed weights like the base loss.

        `work.score` is the batch's cached score; without a cache the source scores the batch here.
        """
        cfg = self.setup.config
        lam = lambda_ramp(work.step, cfg.taser_lambda, self.lambda_warmup_steps)
        score = work.score
        if score is None:
            with torch.no_grad():
                score = self.setup.scores.source(work.x)
        penalty = taser_penalty(self.setup.model, work.x, work.y, score, cfg.penalty, self.generators["noise"],
                                training_forward=training_forward)
        work.penalty = penalty
        work.metrics.update({"loss/taser": penalty.value.detach(), "lambda": lam, **penalty.diagnostics})
        return lam

    def _update(self, loss: Tensor) -> None:
        """The optimiser step; a non-finite loss only raises the device flag (no host wait)."""
        self.nonfinite |= ~torch.isfinite(loss.detach())
        self.setup.optimizer.step()
        self.setup.objective.after_step(self.setup.model)

    def check_finite(self, step: int, epoch: int) -> None:
        """NonFiniteLossError when a loss since the last check was not finite (one host read).

        Called where the loop reads metrics anyway and before every checkpoint, so the saved
        weights are always those of a step whose loss and weights were finite.
        """
        if bool(self.nonfinite):
            raise NonFiniteLossError(f"non-finite loss between step {self.checked_through + 1} and step {step} "
                                     f"(epoch {epoch + 1})")
        self.checked_through = step

    def _set_lr_and_mode(self, step: int) -> float:
        """The step's learning rate, and the model in training mode (BatchNorm frozen if asked)."""
        setup, model = self.setup, self.setup.model
        lr = setup.lr_at(step, self.total_steps)
        for group in setup.optimizer.param_groups:
            group["lr"] = lr
        model.train()
        if setup.config.freeze_batchnorm:
            freeze_batchnorm(model)
        return lr

    def _base_loss(self, work: StepWork, loss_model: nn.Module | None = None,
                   clean_logits: Tensor | None = None) -> Tensor:
        """L_base (+ α·KL when fine-tuning) in training mode, its metrics put in `work.metrics`;
        from `clean_logits` when given (they must come from the training-mode function on this batch)."""
        setup, cfg, model, x, y = self.setup, self.setup.config, self.setup.model, work.x, work.y
        lr = self._set_lr_and_mode(work.step)
        base = setup.objective.loss_from_clean_logits(clean_logits, y) if clean_logits is not None else None
        if base is None:
            with autocast(setup):
                base = setup.objective.compute(model, x, y, work.epoch, self.generators["noise"],
                                               loss_model=loss_model)
        loss = base.value.float()
        metrics: Metrics = {"loss/base": base.value.detach().float(), **base.parts, "lr": lr}
        if setup.teacher is not None:
            kl = self._teacher_kl(x, base.logits)
            loss = loss + cfg.alpha * kl
            metrics["loss/kl"] = kl.detach()
        if base.logits is not None:
            metrics["train_acc"] = (base.logits.detach().argmax(1) == y).float().mean()
        if base.logits_adv is not None:
            metrics["train_adv_acc"] = (base.logits_adv.detach().argmax(1) == y).float().mean()
        work.metrics = {**metrics, **work.metrics}
        return loss

    def _teacher_kl(self, x: Tensor, logits: Tensor | None) -> Tensor:
        """KL(f_θ0(x) ‖ f_θ(x)) on the clean batch, averaged over the batch."""
        if logits is None:
            logits = self.setup.model(x)
        with torch.no_grad():
            teacher_logits = self.setup.teacher(x)
        return F.kl_div(F.log_softmax(logits.float(), dim=1), F.softmax(teacher_logits.float(), dim=1),
                        reduction="batchmean")


class SeparatePenaltyStepper(Stepper):
    """Base loss and backward, then the penalty and its backward into the same gradients."""

    def first_phase(self, work: StepWork) -> None:
        work.loss = self._base_loss(work)
        self.setup.optimizer.zero_grad(set_to_none=True)
        work.loss.backward()

    def second_phase(self, work: StepWork) -> None:
        if self.taser:
            lam = self._penalty(work)
            (lam * work.penalty.value).backward()
            work.loss = work.loss.detach() + lam * work.penalty.value.detach()


class SharedForwardStepper(Stepper):
    """One step whose clean base loss uses the logits of the penalty's tangent batch.

    With BatchNorm frozen (and no other mode-dependent layer: tangent batches refuse those), the
    training-mode function is the per-sample one, so the primal rows of the penalty's forward are
    exactly the base loss's forward. With `penalty.batchnorm="batch"` they are the training-mode
    forward itself (batch statistics, running statistics updated once, by this pass) while the
    tangent rows take the batch's statistics as constants. One forward, one backward. Each step's
    time is split between base and penalty by rows (the base's share is 1 of R chunks); the run's
    result uses the base step timed apart instead (below). If the penalty ran no tangent batch
    (another estimator), the base loss runs its own forward.
    """

    # The step has no base part to time, so every `base_probe_every`-th step is followed (outside
    # its timing) by the base step's forward and backward alone, timed, the model's buffers
    # restored; the update is the same work in both and the step times it. The run's overhead is
    # its whole step over that measured base step, not an assumption that cost scales with rows.
    # It costs ~1/base_probe_every of a plain step; the first probe comes after a few steps, not
    # on the first (allocations make that one slow). The step benchmark sets it to 0 (off).
    base_probe_every = 10
    FIRST_PROBE = 5

    def __init__(self, setup: _Setup, total_steps: int, generators: dict[str, torch.Generator]):
        super().__init__(setup, total_steps, generators)
        self.base_probe = StepTimer(setup.device, prefix="probe_")
        self._steps_taken = 0

    def first_phase(self, work: StepWork) -> None:
        self._set_lr_and_mode(work.step)  # the pass below is the training forward: training mode first
        lam = self._penalty(work, training_forward=True)
        loss = self._base_loss(work, clean_logits=work.penalty.logits)
        work.loss = loss + lam * work.penalty.value
        self.setup.optimizer.zero_grad(set_to_none=True)
        work.loss.backward()

    def penalty_seconds(self, work: StepWork) -> PenaltyRule:
        penalty = work.penalty
        share = (1 - 1 / penalty.chunks) if penalty.logits is not None else 0.0
        return lambda laps: laps[0] * share

    def after_step(self, work: StepWork) -> None:
        self._steps_taken += 1
        first, every = min(self.FIRST_PROBE, self.base_probe_every), self.base_probe_every
        if every and self._steps_taken >= first and (self._steps_taken - first) % every == 0:
            self._time_base_step(work)

    def flush_timing(self, timing: dict[str, float]) -> None:
        super().flush_timing(timing)
        self.base_probe.flush(timing)

    def _time_base_step(self, work: StepWork) -> None:
        setup, model = self.setup, self.setup.model
        saved = [buffer.clone() for buffer in model.buffers()]  # BatchNorm's statistics, its count
        self.base_probe.begin()
        logits = model(work.x)
        loss = setup.objective.loss_from_clean_logits(logits, work.y).value.float()
        if setup.teacher is not None:
            loss = loss + setup.config.alpha * self._teacher_kl(work.x, logits)
        torch.autograd.grad(loss, [p for p in model.parameters() if p.requires_grad])
        self.base_probe.end(work.x.shape[0], no_penalty)
        with torch.no_grad():
            for buffer, value in zip(model.buffers(), saved):
                buffer.copy_(value)


class DataParallelStepper(Stepper):
    """One step on this process's shard, gradients averaged over the processes by DDP.

    The penalty's torch.func JVPs cannot run through the DDP wrapper, and a second backward would
    not be reduced (DDP reduces once per forward through the wrapper). So the base loss is computed
    through `setup.ddp` (which arms the gradient reducer for this step), the penalty on the bare
    module, and ONE backward of their sum: every parameter's gradient accumulates both parts before
    its reducer hook fires, so DDP averages the full gradient of L_base + α·KL + λ·R. Each
    process's loss is weighted by n_rank·world/B, so the average is the gradient of the global
    batch (tested against one process in test_distributed.py). The penalty time is its forward
    only here (its backward is fused with the base's).
    """

    def first_phase(self, work: StepWork) -> None:
        work.loss = self._base_loss(work, loss_model=self.setup.ddp)

    def second_phase(self, work: StepWork) -> None:
        if self.taser:
            lam = self._penalty(work)
            work.loss = work.loss + lam * work.penalty.value

    def finish(self, work: StepWork) -> None:
        setup, ranks = self.setup, self.setup.ranks
        setup.optimizer.zero_grad(set_to_none=True)
        (work.loss * (self.share * ranks.world_size)).backward()
        work.metrics["loss/total"] = work.loss.detach()
        work.metrics = distributed.weighted_mean(work.metrics, self.share, ranks)
        self._update(work.metrics["loss/total"])  # on every process alike: the mean is shared

    def samples(self, work: StepWork) -> float:
        return work.x.shape[0] / self.share  # the global batch


def can_share_forward(setup: _Setup) -> bool:
    """Whether the penalty's forward may also give the base loss its logits (see the config)."""
    cfg = setup.config
    # Adversarial objectives need their own forwards (and AWP perturbs the weights first).
    per_sample_training = cfg.freeze_batchnorm or cfg.penalty.batchnorm == "batch"
    return (setup.scores.source is not None and per_sample_training and cfg.penalty.fraction >= 1.0
            and not setup.objective.adversarial)


def build_stepper(setup: _Setup, total_steps: int, generators: dict[str, torch.Generator]) -> Stepper:
    """The regime's stepper for this run."""
    if setup.ddp is not None:
        return DataParallelStepper(setup, total_steps, generators)
    if can_share_forward(setup):
        return SharedForwardStepper(setup, total_steps, generators)
    return SeparatePenaltyStepper(setup, total_steps, generators)
