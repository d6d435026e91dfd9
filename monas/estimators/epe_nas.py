"""EPE-NAS (Lopes et al., ICANN 2021, "EPE-NAS: Efficient Performance Estimation
Without Training for Neural Architecture Search"): jacov's input Jacobians, correlated
within each class, so that a network scores well when it separates the images of a
class in its own way.

J_i is the gradient of image i's summed logits with respect to its pixels at
initialisation. For each class c present in the minibatch, with Sigma_c the Pearson
correlation matrix of its images' J_i (the 1 x 1 matrix [1] for a single image),

    s_c = sum over entries of log(|Sigma_c| + k),   k = 1e-5,

divided by the number of the class's images when the network has more than 100 output
classes. The score is, as in the reference implementation, sum_c |s_c| for at most 100
classes, else sum over ordered pairs (c, c') of |s_c - s_c'| divided by the number of
classes scored; in that case, classes with a single image are left out (the reference
skips them: its per-class division fails on them), and a minibatch without two images
of one class cannot be scored (EstimationError: raise ``batch_size`` above the number of
classes, since the scoring images are drawn class by class). Computed in float64; the
estimate is ``-score``.
"""
from __future__ import annotations

import torch
from torch import nn

from monas.estimators.base import EstimationError
from monas.estimators.zero_cost import MinibatchScore, ignores_input, input_jacobians
from monas.registry import ESTIMATORS

K = 1e-5
MANY_CLASSES = 100
"""Above this many output classes, the reference switches to pairwise class differences."""
DISCONNECTED = 1.0e6
"""The estimate of a network whose output ignores its input (scores are >= 0)."""


def epe_nas_score(jacobians: torch.Tensor, labels: torch.Tensor, num_classes: int) -> float:
    """The EPE-NAS score of the (N, D) per-image Jacobians with the images' ``labels``
    for a network with ``num_classes`` outputs."""
    jacobians = jacobians.to(torch.float64)
    many = num_classes > MANY_CLASSES
    per_class = []
    for c in torch.unique(labels):
        rows = jacobians[labels == c]
        if len(rows) == 1:
            if not many:  # the correlation matrix of one image is [1]
                per_class.append(torch.log(torch.tensor(1.0 + K, dtype=torch.float64)))
            continue
        s = torch.log(torch.corrcoef(rows).abs() + K).sum()
        per_class.append(s / len(rows) if many else s)
    if not per_class:
        raise EstimationError(
            f"epe-nas with {num_classes} classes needs two images of some class in the minibatch (raise batch_size)"
        )
    s = torch.stack([v.to(jacobians.device) for v in per_class])
    if not many:
        return float(s.abs().sum())
    return float((s[:, None] - s[None, :]).abs().sum() / len(s))


@ESTIMATORS.register("epe-nas")
class EPENAS(MinibatchScore):
    """``-EPE-NAS`` on ``batch_size`` training images and their labels. The default, 32
    (3-4 images per CIFAR-10 class), halves the CPU cost of the reference's usual 64;
    on a 60-network NAS-Bench-201 sample both gave Kendall tau 0.53-0.54."""

    name = "epe-nas"
    disconnected = DISCONNECTED
    worst = 2 * DISCONNECTED

    def __init__(self, batch_size: int = 32, seed: int = 0) -> None:
        super().__init__(batch_size, seed)

    def score(self, net: nn.Module, images: torch.Tensor, labels: torch.Tensor, num_classes: int) -> float | None:
        jacobians, logits = input_jacobians(net, images)
        if ignores_input(logits):
            return None
        return epe_nas_score(jacobians, labels, logits.shape[-1])
