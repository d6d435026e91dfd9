"""Jacobian covariance, "jacov" (Mellor et al., "Neural Architecture Search without
Training", arXiv 2006.04647 v1; as a zero-cost proxy in Abdelfattah et al., ICLR 2021):
a network that maps different images to different local linear maps can tell them
apart.

For each image of the minibatch, J_i is the gradient of its summed logits with respect
to its pixels, at initialisation. With Sigma the (N, N) correlation matrix of the J_i
(Pearson, over pixels) and v its eigenvalues,

    score = -sum over v of ( log(v + k) + 1 / (v + k) ),   k = 1e-5,

as in the reference implementations (computed in float64; the eigenvalues of the
symmetric Sigma by ``eigvalsh``). Uncorrelated Jacobians (all v = 1) score highest;
the estimate is ``-score``, at most about N / k.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from monas.estimators.zero_cost import MinibatchScore, ignores_input, input_jacobians
from monas.registry import ESTIMATORS

K = 1e-5
DISCONNECTED = 1.0e9
"""The estimate of a network whose output ignores its input: above N / K for any
minibatch of fewer than 10,000 images."""
MAX_BATCH = 9999


def jacov_score(jacobians: torch.Tensor) -> float:
    """The jacov score of the (N, D) per-image Jacobians; NaN when one of them is
    constant (its correlations are undefined)."""
    corr = torch.corrcoef(jacobians.to(torch.float64))
    if not torch.isfinite(corr).all():  # an image's Jacobian is constant: no correlation
        return math.nan
    eigenvalues = torch.linalg.eigvalsh(corr)
    return float(-(torch.log(eigenvalues + K) + 1.0 / (eigenvalues + K)).sum())


@ESTIMATORS.register("jacov")
class JacobianCovariance(MinibatchScore):
    """``-jacov`` on ``batch_size`` training images. The default, 64, is the minibatch of
    VKDNW's NAS-Bench-201 script, whose Table 1 gives jacov's published 0.62. Smaller
    batches rank worse: on the first 300 networks of the seed-0 sample, Kendall tau 0.526
    with 16 images, 0.563 with 64 and 0.573 with 128, at about 0.5, 1.3 and 3.4 s per
    network on the loaded development machine (docs/benchmarks.md)."""

    name = "jacov"
    disconnected = DISCONNECTED
    worst = 2 * DISCONNECTED

    def __init__(self, batch_size: int = 64, seed: int = 0) -> None:
        if batch_size > MAX_BATCH:
            raise ValueError(f"jacov needs batch_size <= {MAX_BATCH}")
        super().__init__(batch_size, seed)

    def score(self, net: nn.Module, images: torch.Tensor, labels: torch.Tensor, num_classes: int) -> float | None:
        jacobians, logits = input_jacobians(net, images)
        if ignores_input(logits):
            return None
        return jacov_score(jacobians)
