"""Data-parallel training over several processes: torch.distributed + DistributedDataParallel.

The training loop uses this when it runs inside an initialised process group of more than one
process (started by `torchrun`; NCCL on GPUs, Gloo on the CPU). What it owns:

- `Ranks`: this process's rank, the world size and its device (cuda:LOCAL_RANK on GPUs).
- Sharding: every process draws the SAME global batch of indices (`epoch_batches`, same seed)
  and takes its contiguous share (`shard`), so the global batch is the one a single process
  would take. Shards may differ in size by one; each process's loss is weighted by
  n_rank·world/B so that DDP's gradient average equals the gradient of the global batch mean.
- Agreement: `any_rank` (a stop request seen by one process stops all at the same step),
  `weighted_mean` (metrics of the global batch), `gather_states` (every process's generator
  states, so a checkpoint resumes each process's random stream).
- `wrap`: the DDP wrapper (SyncBatchNorm on CUDA; on the CPU, BatchNorm keeps per-process
  batch statistics: train-mode normalisation then uses the shard's statistics, not the global
  batch's, and running statistics come from process 0 — DDP broadcasts its buffers).

No global state of its own: it reads torch.distributed's process group.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel


@dataclass(frozen=True)
class Ranks:
    rank: int
    world_size: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def rng_suffix(self) -> str:
        """How this process's generator states are named in a checkpoint (process 0: plain)."""
        return "" if self.rank == 0 else f"@rank{self.rank}"


def current_ranks(device: torch.device) -> Ranks | None:
    """The process group this process belongs to, or None when it runs alone."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() < 2:
        return None
    if device.type == "cuda":  # one GPU per process
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", dist.get_rank())))
        torch.cuda.set_device(device)
    return Ranks(dist.get_rank(), dist.get_world_size(), device)


def shard(index: Tensor, ranks: Ranks) -> Tensor:
    """This process's contiguous share of a global batch of indices."""
    return index.tensor_split(ranks.world_size)[ranks.rank]


def wrap(model: nn.Module, ranks: Ranks) -> DistributedDataParallel:
    """DDP around `model` (converted to SyncBatchNorm in place on CUDA)."""
    if ranks.device.type == "cuda":
        for name, child in list(model.named_children()):
            setattr(model, name, nn.SyncBatchNorm.convert_sync_batchnorm(child))
        return DistributedDataParallel(model, device_ids=[ranks.device.index])
    return DistributedDataParallel(model)


def any_rank(flag: bool, ranks: Ranks) -> bool:
    """True on every process when `flag` is True on at least one."""
    value = torch.tensor([1.0 if flag else 0.0], device=ranks.device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item() > 0)


def weighted_mean(metrics: dict[str, Tensor | float], share: float, ranks: Ranks) -> dict[str, Tensor | float]:
    """Tensor metrics (shard means) averaged over processes with weights n_rank/B; floats kept.

    One all_reduce for all of them. A non-finite value on any process makes the result
    non-finite everywhere, so every process fails the step together.
    """
    keys = [k for k, v in metrics.items() if isinstance(v, Tensor)]
    if not keys:
        return dict(metrics)
    stacked = torch.stack([metrics[k].detach().float().reshape(()).to(ranks.device) for k in keys]) * share
    dist.all_reduce(stacked)
    return {**metrics, **dict(zip(keys, stacked.unbind()))}


def gather_states(generators: dict[str, torch.Generator], ranks: Ranks) -> dict[str, Tensor]:
    """Every process's generator states, named as `Ranks.rng_suffix` says (for process 0)."""
    own = {name: g.get_state().cpu() for name, g in generators.items()}
    everyone: list[dict[str, Tensor]] = [{} for _ in range(ranks.world_size)]
    dist.all_gather_object(everyone, own)
    states = {}
    for rank, per_rank in enumerate(everyone):
        suffix = Ranks(rank, ranks.world_size, ranks.device).rng_suffix
        states.update({f"{name}{suffix}": state for name, state in per_rank.items()})
    return states


def barrier(ranks: Ranks | None) -> None:
    if ranks is not None:
        dist.barrier()
