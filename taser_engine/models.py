"""Classifiers: ResNet-18 with the CIFAR stem, a small CNN for digits/MNIST, and an MLP.

Every model takes inputs in [0, 1] and normalises inside (`Normalize`), so attacks, scores and
the Stein penalty all live in the same [0, 1] coordinates. ReLU variants declare
`piecewise_linear = True` (their logits have zero Hessian almost everywhere, which the
forward-mode estimator exploits); smooth variants (SiLU, Softplus, GELU) give the Laplacian
term something to act on. Every model declares `tangent_batch = True`: each nonlinearity in its
forward is a module call, which `tangents` relies on.

`ModelSpec` is the serialisable description stored with every checkpoint; `build_model(spec)`
is the only constructor the rest of the product uses.
"""

from __future__ import annotations

from typing import Literal, Sequence

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import Tensor, nn

from taser_engine.fields import MAX_CHANNELS, MAX_CLASSES, MAX_IMAGE_SIZE, MAX_WIDTH

Activation = Literal["relu", "silu", "softplus", "gelu"]
ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU, "silu": nn.SiLU, "softplus": nn.Softplus, "gelu": nn.GELU,
}


class ModelSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    arch: Literal["resnet18", "small_cnn", "mlp"] = "small_cnn"
    # An uploaded model.json is built before anything else is checked: every size is bounded.
    in_channels: int = Field(1, ge=1, le=MAX_CHANNELS)
    image_size: int = Field(8, ge=1, le=MAX_IMAGE_SIZE)
    num_classes: int = Field(10, ge=2, le=MAX_CLASSES)
    activation: Activation = "relu"
    width: int = Field(32, ge=1, le=MAX_WIDTH, description="base width (channels for CNNs, hidden units for the MLP)")
    mean: list[float] = Field(default_factory=lambda: [0.5], min_length=1, max_length=MAX_CHANNELS)
    std: list[float] = Field(default_factory=lambda: [0.5], min_length=1, max_length=MAX_CHANNELS)


class Normalize(nn.Module):
    def __init__(self, mean: Sequence[float], std: Sequence[float]):
        super().__init__()
        self.register_buffer("mean", torch.tensor(list(mean)).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(list(std)).view(1, -1, 1, 1))

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() == 2:
            return (x - self.mean.flatten()[:1]) / self.std.flatten()[:1]
        return (x - self.mean) / self.std


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, in_planes: int, planes: int, stride: int, activation: type[nn.Module]):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.act1 = activation()
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.act2 = activation()
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_planes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))

    def forward(self, x: Tensor) -> Tensor:
        out = self.act1(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.act2(out + self.shortcut(x))


class Classifier(nn.Module):
    """What every architecture shares: the input normalised inside, then `classify`."""

    def __init__(self, spec: ModelSpec):
        super().__init__()
        self.normalize = Normalize(spec.mean, spec.std)

    def forward(self, x: Tensor) -> Tensor:
        return self.classify(self.normalize(x))

    def classify(self, x: Tensor) -> Tensor:
        raise NotImplementedError


class ResNet18(Classifier):
    """ResNet-18 with the CIFAR stem: 3×3 conv, stride 1, no max-pool (paper C.1)."""

    def __init__(self, spec: ModelSpec):
        super().__init__(spec)
        act, w = ACTIVATIONS[spec.activation], spec.width
        self.stem = nn.Sequential(nn.Conv2d(spec.in_channels, w, 3, 1, 1, bias=False),
                                  nn.BatchNorm2d(w), act())
        layers, in_planes = [], w
        for planes, stride in ((w, 1), (2 * w, 2), (4 * w, 2), (8 * w, 2)):
            layers += [BasicBlock(in_planes, planes, stride, act), BasicBlock(planes, planes, 1, act)]
            in_planes = planes
        self.layers = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(in_planes, spec.num_classes)

    def classify(self, x: Tensor) -> Tensor:
        return self.fc(self.pool(self.layers(self.stem(x))).flatten(1))


class SmallCNN(Classifier):
    """Two conv blocks and a linear head; sized for 8×8 digits and 28×28 MNIST."""

    def __init__(self, spec: ModelSpec):
        super().__init__(spec)
        act, w = ACTIVATIONS[spec.activation], spec.width
        self.features = nn.Sequential(
            nn.Conv2d(spec.in_channels, w, 3, 1, 1), nn.BatchNorm2d(w), act(),
            nn.Conv2d(w, 2 * w, 3, 2, 1), nn.BatchNorm2d(2 * w), act(),
            nn.AdaptiveAvgPool2d(2),
        )
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(8 * w, 4 * w), act(),
                                  nn.Linear(4 * w, spec.num_classes))

    def classify(self, x: Tensor) -> Tensor:
        return self.head(self.features(x))


class MLP(Classifier):
    def __init__(self, spec: ModelSpec):
        super().__init__(spec)
        act = ACTIVATIONS[spec.activation]
        d = spec.in_channels * spec.image_size * spec.image_size
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(d, spec.width), act(),
                                 nn.Linear(spec.width, spec.width), act(),
                                 nn.Linear(spec.width, spec.num_classes))

    def classify(self, x: Tensor) -> Tensor:
        return self.net(x)


_ARCHS: dict[str, type[nn.Module]] = {"resnet18": ResNet18, "small_cnn": SmallCNN, "mlp": MLP}


def build_model(spec: ModelSpec) -> nn.Module:
    model = _ARCHS[spec.arch](spec)
    model.piecewise_linear = spec.activation == "relu"
    # Every nonlinearity in these forwards is a module call, so tangents can ride in the batch.
    model.tangent_batch = True
    model.spec = spec
    return model
