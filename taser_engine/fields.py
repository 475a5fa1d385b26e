"""Bounds and field types shared by the job configs, declared once.

Every config field that sizes work or memory has an upper bound: generous for real GPU work
(ResNet-18 on CIFAR-10 at batch 512 for 200 epochs, AutoAttack on 10,000 points), small enough
that a typo or a hostile value cannot ask a worker for more memory, time or processes than any
machine has. Floats are finite (`allow_inf_nan=False` on every config). The README's "Limits"
table lists these values.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, Field, ValidationError

# Base width of a model (CNN channels, MLP hidden units): ResNet-18 at 512 (8x the standard 64)
# has ~0.7e9 parameters, ~11 GB with gradients and Adam's state; a width of 1e9 is 36 GB of weights.
MAX_WIDTH = 512
# Input shape and classes of a model (an uploaded model.json is built as it says): the datasets
# here are 1–3 channels of 8–32 pixels with 10 classes; an MLP on 4x256x256 inputs at the
# largest width is still only 0.13e9 parameters.
MAX_CHANNELS = 4
MAX_IMAGE_SIZE = 256
MAX_CLASSES = 10_000
# Samples in one batch (training, evaluation, benchmark): 128x the usual 512 of ResNet-18 on
# CIFAR-10; past it no GPU holds the activations of these models.
MAX_BATCH = 65_536
# Sizes of data subsets (training / test samples, evaluation points): 200x CIFAR-10's training
# set; loaders take min(N, dataset size), so this only keeps the number sane.
MAX_SAMPLES = 10_000_000
# Training epochs: the paper's CIFAR-10 schedule is 200; 100,000 digits epochs are still hours.
MAX_EPOCHS = 100_000
# Optimiser-step counts and intervals (logging, checkpoints, warm-up steps).
MAX_STEPS = 1_000_000_000
# Attack iterations / queries per point (APGD, SPSA, Square): AutoAttack uses 100 APGD
# iterations and 5,000 Square queries; 100,000 is 20x the largest.
MAX_ATTACK_ITERATIONS = 100_000
# Learning rates: SGD uses ~0.1, Adam ~1e-3; above 10 every model here diverges.
MAX_LR = 10.0
# Loss weights (TASER λ, TRADES β, MART λ, teacher α): the paper's are at most 6; beyond 1e4 the
# weighted term alone is the loss.
MAX_LOSS_WEIGHT = 1e4
# Diffusion timesteps: DDPM trains with 1,000.
MAX_TIMESTEPS = 10_000
# Processes or threads one job starts on its machine (torchrun ranks, torch threads): the largest
# GPU servers have 16 GPUs; more CPU processes than this is a fork bomb, not a data-parallel run.
MAX_PROCESSES = 64
MAX_THREADS = 1024
# Items of a list field (a λ grid, benchmark axes, attacks): sweeps have a handful of values and
# the work is their product.
MAX_LIST = 64
# Seeds: numpy's range (torch accepts more; the evaluation subset is drawn with numpy).
MAX_SEED = 2**32 - 1
# A filesystem path: Linux's PATH_MAX.
MAX_PATH = 4096
# One line of free text in a config (a tag, a label): the run-name column's 200 characters.
MAX_TEXT = 200

# `owner/name` as the Hugging Face hub names models; neither part may start with a dot.
HUB_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,95}/[A-Za-z0-9][A-Za-z0-9_.-]{0,95}")


def looks_like_hub_id(name: str) -> bool:
    """`owner/model` as the Hugging Face hub names models (not a local path)."""
    return HUB_ID.fullmatch(name) is not None


Seed = Annotated[int, Field(ge=0, le=MAX_SEED)]
PathText = Annotated[str, Field(max_length=MAX_PATH)]


def _device_name(value: str, auto: bool) -> str:
    if not ((auto and value == "auto") or value in ("cpu", "cuda")
            or (value.startswith("cuda:") and value[5:].isdigit() and len(value) <= 12)):
        choices = "'auto', 'cpu', 'cuda' or 'cuda:N'" if auto else "'cpu', 'cuda' or 'cuda:N'"
        raise ValueError(f"device must be {choices}, got {value[:40]!r}")
    return value


# A torch device by name; `DeviceOrAuto` also takes 'auto' (CUDA when available).
Device = Annotated[str, AfterValidator(lambda value: _device_name(value, auto=False))]
DeviceOrAuto = Annotated[str, AfterValidator(lambda value: _device_name(value, auto=True))]


def present_devices() -> list[str]:
    """'cpu', and 'cuda' when a CUDA device is present: the devices a benchmark times by default."""
    import torch  # here, not at the top: the config fields module loads without torch

    return ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def format_errors(exc: ValidationError) -> str:
    """One line naming each bad field, for the CLI and the dashboard."""
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "config"
        parts.append(f"{where}: {err['msg']}")
    return "; ".join(parts)
