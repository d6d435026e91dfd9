"""NASWOT (Mellor et al., ICML 2021, "Neural Architecture Search without Training"): how
differently the ReLUs of an untrained network partition a minibatch of images.

Every ``nn.ReLU`` module is hooked; for each image, a unit's bit is 1 when the ReLU
passes a positive value (input > 0, equivalently output > 0). With ``c_i`` the binary
code of image i at one ReLU (its ``N_A`` units flattened), the kernel is

    K[i, j] = sum over ReLUs of (N_A - Hamming(c_i, c_j)) = sum of c_i.c_j + (1-c_i).(1-c_j),

and the score is ``log |det K|`` (the paper's second version). Networks whose ReLUs
give distinct images distinct codes score higher. The network runs as freshly built,
in train mode (batch-norm normalises with the minibatch's statistics; dropout, if
any, is switched off), under ``torch.no_grad``; K is accumulated in float64. Only
``nn.ReLU`` modules are read (other activations such as Hardswish are not).
"""
from __future__ import annotations

import math
from typing import Callable

import torch
from torch import nn

from monas.data import ScoringData
from monas.estimators.at_init import MinibatchEstimator, seeded_build, train_without_dropout
from monas.estimators.base import EstimationError, deterministic_kernels
from monas.registry import ESTIMATORS

SINGULAR = 1.0e6
"""The estimate when K is singular (two images, or a whole network, indistinguishable)."""


@torch.no_grad()
def naswot_kernel(net: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """The (N, N) float64 kernel K of ``net`` (in its current mode) on ``images``."""
    n = len(images)
    kernel = torch.zeros((n, n), dtype=torch.float64, device=images.device)
    seen = [0]

    def hook(module: nn.Module, inputs, output: torch.Tensor) -> None:
        codes = (output.reshape(n, -1) > 0).to(torch.float64)
        ones = codes.sum(1)
        # c.c' + (1-c).(1-c)' = N_A - |c| - |c'| + 2 c.c', one matrix product; exact in float64
        kernel.add_(2.0 * (codes @ codes.T) - ones[:, None] - ones[None, :] + codes.shape[1])
        seen[0] += 1

    handles = [m.register_forward_hook(hook) for m in net.modules() if isinstance(m, nn.ReLU)]
    try:
        net(images)
    finally:
        for handle in handles:
            handle.remove()
    if not seen[0]:
        raise EstimationError("the network has no nn.ReLU module to read codes from")
    return kernel


@ESTIMATORS.register("naswot")
class NASWOT(MinibatchEstimator):
    """``-log|det K|`` on ``batch_size`` training images; lower is better.

    The network is initialised with ``seed``; when there are more than ``batch_size``
    training images, the minibatch is drawn from them with ``seed`` too (the score does
    not depend on the images' order). ``SINGULAR`` when K is singular.
    """

    name = "naswot"
    worst = 2 * SINGULAR  # a failure ranks below even a degenerate network

    def __init__(self, batch_size: int = 128, seed: int = 0) -> None:
        super().__init__(batch_size, seed)

    def estimate(self, arch: str, build: Callable[[], nn.Module], data: ScoringData | None, device: torch.device) -> float:
        images, _ = self.minibatch(data)
        net = train_without_dropout(seeded_build(build, self.seed), device)  # no dropout: deterministic codes
        with deterministic_kernels():
            kernel = naswot_kernel(net, images.to(device))
        sign, logdet = torch.linalg.slogdet(kernel)
        if sign.item() <= 0 or not math.isfinite(logdet.item()):
            return SINGULAR
        return -logdet.item()
