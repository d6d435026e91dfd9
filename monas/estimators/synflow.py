"""SynFlow (Tanaka et al., NeurIPS 2020) as a zero-cost proxy for NAS (Abdelfattah et
al., ICLR 2021): the total "synaptic flow" a data-free signal carries through the
network at initialisation.

With every weight replaced by its absolute value, ReLUs pass everything they receive,
so the network computes a positive multilinear function of its weights. Feeding a
single all-ones image and summing the outputs gives R; the score is
``sum over weights theta of |theta * dR/dtheta|``, summed over the weights of every
``nn.Conv2d`` and ``nn.Linear`` (biases and batch-norm affine parameters excluded), as
the zero-cost-proxies reference implementation does.

Batch-norm: the reference's ``synflow`` measure (as opposed to ``synflow_bn``) replaces
each batch-norm layer's forward by the identity; so does this module. (Tanaka et al.
score in eval mode, where a freshly initialised batch-norm divides by sqrt(1 + eps)
only, so the two agree to within that factor per layer.) With batch-norm removed,
a network whose cells output zero (all ``none`` edges) carries no flow past them:
its score is 0.

The score grows multiplicatively with depth and width, so the estimate is
``-log(score)`` (same order, readable scale) computed in float64; a score of 0 is
``ZERO_FLOW``, worse than the estimate of any positive float64 score (at most ~744).
"""
from __future__ import annotations

import math
from typing import Callable

import torch
from torch import nn

from monas.data import ScoringData
from monas.estimators.at_init import seeded_build
from monas.estimators.base import EstimationError, Estimator
from monas.estimators.base import deterministic_kernels
from monas.registry import ESTIMATORS

ZERO_FLOW = 1.0e6
"""The estimate of a network through which no flow reaches the output."""

_BATCH_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


def synflow_score(net: nn.Module, input_shape: tuple[int, ...], device: torch.device) -> float:
    """The SynFlow score of ``net`` (modified in place: weights made absolute, float64,
    batch-norm bypassed) for one all-ones input of ``input_shape`` (C, H, W)."""
    for module in net.modules():
        if isinstance(module, _BATCH_NORMS):
            module.forward = _identity  # instance attribute: shadows the class's forward
    net = net.to(device=device, dtype=torch.float64).eval()  # batch-norm is bypassed; eval mode turns dropout off
    with torch.no_grad():
        for tensor in net.state_dict().values():  # parameters and buffers, shared storage
            if tensor.is_floating_point():
                tensor.abs_()
    net.zero_grad(set_to_none=True)
    ones = torch.ones((1, *input_shape), dtype=torch.float64, device=device)
    net(ones).sum().backward()
    with torch.no_grad():
        flows = [
            (m.weight * m.weight.grad).abs().sum()
            for m in net.modules()
            if isinstance(m, (nn.Conv2d, nn.Linear)) and m.weight.grad is not None
        ]
    return float(torch.stack(flows).sum()) if flows else 0.0


def _identity(x: torch.Tensor) -> torch.Tensor:
    return x


@ESTIMATORS.register("synflow")
class SynFlow(Estimator):
    """``-log(SynFlow score)`` of the network initialised with ``seed``; lower is
    better. ``ZERO_FLOW`` when the score is 0; EstimationError when it overflows.

    Data-free, but the input shape comes from the scoring images, so one training and
    one validation image are requested (``n_train = n_val = 1``: ``data`` is None when
    an estimator asks for none, and the caller's split needs one image on each side);
    their pixel values are never used.
    """

    name = "synflow"
    worst = 2 * ZERO_FLOW  # a failure ranks below even a degenerate network
    n_train = 1
    n_val = 1

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed

    def estimate(self, arch: str, build: Callable[[], nn.Module], data: ScoringData | None, device: torch.device) -> float:
        if data is None:
            raise EstimationError("synflow reads the input shape from the scoring images but got none")
        net = seeded_build(build, self.seed)
        with deterministic_kernels():
            score = synflow_score(net, tuple(data.train_x.shape[1:]), device)
        if not math.isfinite(score):
            raise EstimationError(f"the SynFlow score overflowed float64 ({score})")
        if score <= 0.0:
            return ZERO_FLOW
        return -math.log(score)
