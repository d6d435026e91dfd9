"""SWAP-Score (Peng et al., ICLR 2024, "SWAP-NAS: Sample-Wise Activation Patterns for
Ultra-fast NAS"): how many distinct ways the ReLU units of an untrained network respond
to a small batch of images.

Every ``nn.ReLU`` module whose input is a 4-D feature map is hooked, as in the
reference implementation. Over a batch of N images each unit of each hooked ReLU has a
sample-wise activation pattern: the N-bit vector of whether it passed a positive value
for each image. The SWAP-Score is the number of distinct patterns among all the units
of the network. With N = 16 (the reference's default) there are at most 2^16 patterns,
so the score measures how finely the units' responses split the batch, not how many
units there are. The reference re-initialises the network from the standard normal
distribution (convolutions and linear layers; normalisation scales 1, shifts 0) and
runs it in train mode (batch-norm normalises with the minibatch's statistics); so does
this one. ``repeats > 1`` averages the score over that many initialisations (the
reference averages 32).

Unlike NASWOT, which compares images through their codes, SWAP counts units' codes:
the reference's ``torch.unique`` over (units, N) rows is done here on each unit's
pattern packed into one integer, the same count with one 1-D sort.
"""
from __future__ import annotations

import torch
from torch import nn

from monas.estimators.at_init import seeded_build
from monas.estimators.zero_cost import MinibatchScore, ignores_input, logits_of
from monas.registry import ESTIMATORS

DISCONNECTED = 1.0e9
"""The estimate of a network whose output ignores its input (no score is that low)."""

MAX_BATCH = 62
"""Patterns are packed into int64 bit fields."""


def gaussian_init(net: nn.Module) -> nn.Module:
    """Re-initialise ``net`` in place as the SWAP reference does: convolution and linear
    weights from the standard normal distribution, their biases 0, normalisation scales
    1 and shifts 0. Draws from torch's global generator; returns ``net``."""
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                nn.init.normal_(module.weight)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, (nn.BatchNorm2d, nn.GroupNorm)) and module.affine:
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
    return net


@torch.no_grad()
def swap_score(net: nn.Module, images: torch.Tensor) -> tuple[int, torch.Tensor]:
    """(the number of distinct sample-wise activation patterns of ``net``'s ReLU units
    on ``images``, the logits); ``net`` runs in its current mode. At most ``MAX_BATCH``
    images."""
    n = len(images)
    if n > MAX_BATCH:
        raise ValueError(f"swap packs patterns into 64-bit integers: at most {MAX_BATCH} images, got {n}")
    bits = 2 ** torch.arange(n, dtype=torch.int64, device=images.device)
    packed: list[torch.Tensor] = []

    def hook(module: nn.Module, inputs, output: torch.Tensor) -> None:
        if inputs and isinstance(inputs[0], torch.Tensor) and inputs[0].dim() == 4:
            codes = (output.reshape(n, -1) > 0).to(torch.int64)
            packed.append(torch.unique(bits @ codes))  # each unit's pattern as one integer

    handles = [m.register_forward_hook(hook) for m in net.modules() if isinstance(m, nn.ReLU)]
    try:
        logits = logits_of(net(images))
    finally:
        for handle in handles:
            handle.remove()
    distinct = int(torch.unique(torch.cat(packed)).numel()) if packed else 0
    return distinct, logits


@ESTIMATORS.register("swap")
class SWAP(MinibatchScore):
    """``-SWAP-Score`` on ``batch_size`` training images drawn with ``seed``, averaged
    over ``repeats`` standard-normal initialisations (the first drawn with ``seed``);
    lower is better. A network whose output ignores its input scores ``DISCONNECTED``."""

    name = "swap"
    disconnected = DISCONNECTED
    worst = 2 * DISCONNECTED

    def __init__(self, batch_size: int = 16, repeats: int = 1, seed: int = 0) -> None:
        if not 2 <= batch_size <= MAX_BATCH:
            raise ValueError(f"swap needs 2 <= batch_size <= {MAX_BATCH}, got {batch_size}")
        if repeats < 1:
            raise ValueError(f"swap needs repeats >= 1, got {repeats}")
        super().__init__(batch_size, seed)
        self.repeats = repeats

    def score(self, net: nn.Module, images: torch.Tensor, labels: torch.Tensor, num_classes: int) -> float | None:
        total = 0
        for repeat in range(self.repeats):
            seeded_build(lambda: net, self.seed + repeat, gaussian_init)
            distinct, logits = swap_score(net, images)
            if ignores_input(logits):
                return None
            total += distinct
        return total / self.repeats
