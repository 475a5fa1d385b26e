"""Where random numbers are drawn: on the generator's device, which for a run is its own device.

Every random draw in the engine takes an explicit generator (runs resume bit for bit from saved
generator states). Drawing on the generator's device and then moving the numbers would be a host
round trip per draw when the data is on a GPU and the generator is not; the training loop puts its
generators on the run's device so that never happens. The `meta` device has no generators: the
placement test gives it CPU ones, and meta tensors take their draws without data.
"""

from __future__ import annotations

import torch
from torch import Tensor


def draw_device(generator: torch.Generator | None, like: Tensor) -> torch.device:
    """The device to draw random numbers for `like` on, with `generator`."""
    if generator is None or like.device.type in (generator.device.type, "meta"):
        return like.device
    return generator.device
