"""What the AZ-NAS and VKDNW estimators share: a seeded minibatch of the scoring images and
a network built and initialised as their reference implementations do."""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.GroupNorm)


def seeded_minibatch(images: torch.Tensor, batch_size: int, seed: int) -> torch.Tensor:
    """``images`` when there are at most ``batch_size``; otherwise ``batch_size`` of them
    drawn with ``seed`` (kept in their original order)."""
    if len(images) <= batch_size:
        return images
    chosen = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))[:batch_size]
    return images[chosen.sort().values.to(images.device)]


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


def build_initialised(build: Callable[[], nn.Module], seed: int) -> nn.Module:
    """``build()`` then ``kaiming_fan_in_init``, both drawing from a generator seeded with
    ``seed``; torch's global generator is left as it was."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return kaiming_fan_in_init(build())


def dropout_off(net: nn.Module) -> nn.Module:
    """Put every dropout module of ``net`` in eval mode (deterministic outputs, the rest of
    the network untouched); returns ``net``."""
    for module in net.modules():
        if isinstance(module, nn.modules.dropout._DropoutNd):
            module.eval()
    return net
