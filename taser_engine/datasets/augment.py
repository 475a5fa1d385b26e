"""Standard augmentation on whole batches with an explicit generator, so a training run's data
order and augmentation are reproducible and resumable from saved generator states.

One drawn `Augmentation` serves images and their cached scores alike (`augment_batch(x,
score=s)`, `scores.cache.augment_pair`, `ScoreCache.lookup`): the random numbers are drawn once,
in one order, and the same shift and flip are applied to every tensor given.

- Draw order (`draw_augmentation`): crop rows (B,), crop columns (B,), then flips (B,). It is the
  order training has always used, so training runs keep their augmentation bit for bit.
- Application order (`apply_augmentation`): flip, then shift. A crop-then-flip draw is stored in
  this form (the column shift changes sign under the flip), so both describe the same pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from taser_engine.rng import draw_device


@dataclass
class Augmentation:
    """A drawn flip and shift per sample: flip first, then shift by `offsets` (the uncovered
    border is filled)."""

    flip: Tensor  # (B,) bool
    offsets: Tensor  # (B, 2) integer shifts (dy, dx)
    padding: int | None = None  # bound on |offsets| when known: no device sync to find it


def draw_augmentation(n: int, generator: torch.Generator | None = None, padding: int = 4, flip: bool = True,
                      device: torch.device | str = "cpu") -> Augmentation:
    """Draw a random crop of the zero-padded image (corner rows, then columns) and then a flip.

    A crop with corner (top, left) is the shift (padding − top, padding − left); followed by a
    flip, it is the flip followed by the shift (padding − top, left − padding). That is stored.
    """
    dev = torch.device(device)
    top = left = torch.full((n,), padding, dtype=torch.long, device=dev)  # no padding: no shift
    if padding > 0:
        top = torch.randint(0, 2 * padding + 1, (n,), generator=generator, device=dev)
        left = torch.randint(0, 2 * padding + 1, (n,), generator=generator, device=dev)
    flips = (torch.rand(n, generator=generator, device=dev) < 0.5 if flip
             else torch.zeros(n, dtype=torch.bool, device=dev))
    dx = torch.where(flips, left - padding, padding - left)
    return Augmentation(flips, torch.stack([padding - top, dx], dim=1), padding)


def hflip_where(t: Tensor, mask: Tensor) -> Tensor:
    """Flip the last axis of the samples where `mask` (B,) is True."""
    return torch.where(mask.to(t.device).view(-1, *([1] * (t.dim() - 1))), t.flip(-1), t)


def translate(t: Tensor, offsets: Tensor, fill: float = 0.0, padding: int | None = None) -> Tensor:
    """Shift each image (B, C, H, W) by its (dy, dx) offset, filling the uncovered border.

    Equal to a random crop of size (H, W) from the image padded by p with `fill` with the crop
    corner at (p − dy, p − dx): the torchvision `RandomCrop(padding=p)` convention. `padding`,
    when given, bounds |offsets| (else it is read from them, a device sync on a GPU).
    """
    b, c, h, w = t.shape
    pad = padding if padding is not None else int(offsets.abs().max().item()) if offsets.numel() else 0
    if pad == 0:
        return t
    offsets = offsets.to(t.device)
    padded = torch.nn.functional.pad(t, (pad,) * 4, value=fill)
    rows = ((pad - offsets[:, 0]).view(b, 1) + torch.arange(h, device=t.device)).view(b, 1, h, 1)
    cols = ((pad - offsets[:, 1]).view(b, 1) + torch.arange(w, device=t.device)).view(b, 1, 1, w)
    batch = torch.arange(b, device=t.device).view(b, 1, 1, 1)
    return padded[batch, torch.arange(c, device=t.device).view(1, c, 1, 1), rows, cols]


def apply_augmentation(t: Tensor, aug: Augmentation, fill: float = 0.0) -> Tensor:
    """Flip, then shift, each sample of `t` as `aug` says."""
    return translate(hflip_where(t, aug.flip), aug.offsets, fill, aug.padding)


def augment_batch(x: Tensor, generator: torch.Generator, padding: int = 4, flip: bool = True,
                  score: Tensor | None = None) -> Tensor | tuple[Tensor, Tensor]:
    """Standard CIFAR augmentation on a batch: random crop after zero-padding, horizontal flip.

    Random numbers come from `generator` (on x's device, or the CPU), so runs are reproducible.
    With `score` (cached scores of the same images) the same crop and flip are applied to it and
    `(x, score)` is returned: the score's padded border is 0, as for the image (scores/cache.py
    says how far that is from the score of the augmented image).
    """
    aug = draw_augmentation(x.shape[0], generator, padding, flip, draw_device(generator, x))
    out = apply_augmentation(x, aug)
    return out if score is None else (out, apply_augmentation(score, aug))
