"""What every estimator that scores a network at initialisation shares, each written once:
the network built with a seed (torch's global generator left as it was), AZ-NAS's and
VKDNW's re-initialisation, the train mode the minibatch scores run in (dropout off), a
seeded minibatch of the scoring images, and ``MinibatchEstimator``, the estimator that
scores ``batch_size`` of them."""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from monas.data import ScoringData
from monas.estimators.base import EstimationError, Estimator

_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.GroupNorm)


def seeded_build(
    build: Callable[[], nn.Module], seed: int, init: Callable[[nn.Module], nn.Module] | None = None
) -> nn.Module:
    """``build()``, then ``init`` on the result when given, both drawing from torch's
    global generator seeded with ``seed``; the global generator is left as it was."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = build()
        return net if init is None else init(net)


def kaiming_fan_in_init(net: nn.Module) -> nn.Module:
    """Re-initialise ``net`` in place as AZ-NAS and VKDNW score networks: every
    convolution and linear weight from Kaiming's normal distribution (fan-in, ReLU gain),
    biases 0, normalisation layers' scales 1 and shifts 0. Draws from torch's global
    generator; returns ``net``."""
    for module in net.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(module.weight, mode="fan_in", nonlinearity="relu")
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, _NORMS) and module.affine:
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
    return net


def train_without_dropout(net: nn.Module, device: torch.device) -> nn.Module:
    """``net`` moved to ``device`` in train mode (batch-norm normalises with the
    minibatch's statistics, as the reference implementations score) with every dropout
    module in eval mode (deterministic outputs); returns ``net``."""
    net = net.to(device).train()
    for module in net.modules():
        if isinstance(module, nn.modules.dropout._DropoutNd):
            module.eval()
    return net


def seeded_minibatch(
    images: torch.Tensor, labels: torch.Tensor, batch_size: int, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """``batch_size`` images and their labels drawn with ``seed`` (kept in index order);
    all of them when there are no more than ``batch_size``."""
    if len(images) <= batch_size:
        return images, labels
    chosen = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))[:batch_size].sort().values
    return images[chosen.to(images.device)], labels[chosen.to(labels.device)]


class MinibatchEstimator(Estimator):
    """An estimator that scores a network on ``batch_size`` training images drawn with
    ``seed`` (``minibatch``). ``n_val`` is 1, the least the caller's split allows;
    validation images are unused."""

    min_batch = 2

    def __init__(self, batch_size: int, seed: int) -> None:
        if batch_size < self.min_batch:
            raise ValueError(f"{self.name} needs batch_size >= {self.min_batch}, got {batch_size}")
        self.batch_size = batch_size
        self.n_train = batch_size
        self.n_val = 1
        self.seed = seed

    def minibatch(self, data: ScoringData | None) -> tuple[torch.Tensor, torch.Tensor]:
        """The seeded minibatch of ``data``'s training images and their labels;
        EstimationError when there is no data."""
        if data is None:
            raise EstimationError(f"{self.name} needs scoring images but got none")
        return seeded_minibatch(data.train_x, data.train_y, self.batch_size, self.seed)
