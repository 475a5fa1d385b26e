"""Standard augmentation on whole batches with an explicit generator, so a training run's data
order and augmentation are reproducible and resumable from saved generator states."""

from __future__ import annotations

import torch
from torch import Tensor

from taser_engine.rng import draw_device


def augment_batch(x: Tensor, generator: torch.Generator, padding: int = 4, flip: bool = True,
                  score: Tensor | None = None) -> Tensor | tuple[Tensor, Tensor]:
    """Standard CIFAR augmentation on a batch: random crop after zero-padding, horizontal flip.

    Random numbers come from `generator` (on x's device, or the CPU), so runs are reproducible.
    With `score` (cached scores of the same images) the same crop and flip are applied to it and
    `(x, score)` is returned: the score's padded border is 0, as for the image (scores/cache.py
    says how far that is from the score of the augmented image).
    """
    b, _, h, w = x.shape
    dev = draw_device(generator, x)
    tensors = [x] if score is None else [x, score]
    if padding > 0:
        top = torch.randint(0, 2 * padding + 1, (b,), generator=generator, device=dev).to(x.device)
        left = torch.randint(0, 2 * padding + 1, (b,), generator=generator, device=dev).to(x.device)
        rows = (top.view(b, 1) + torch.arange(h, device=x.device)).view(b, 1, h, 1)
        cols = (left.view(b, 1) + torch.arange(w, device=x.device)).view(b, 1, 1, w)
        batch = torch.arange(b, device=x.device).view(b, 1, 1, 1)
        chan = torch.arange(x.shape[1], device=x.device).view(1, -1, 1, 1)
        tensors = [torch.nn.functional.pad(t, (padding,) * 4)[batch, chan, rows, cols] for t in tensors]
    if flip:
        flips = (torch.rand(b, generator=generator, device=dev).to(x.device) < 0.5).view(b, 1, 1, 1)
        tensors = [torch.where(flips, t.flip(3), t) for t in tensors]
    return tensors[0] if score is None else (tensors[0], tensors[1])
