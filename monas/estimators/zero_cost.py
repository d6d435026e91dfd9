"""What the minibatch gradient and Jacobian scores (ZiCo, MeCo, jacov, EPE-NAS, grad-norm,
snip, fisher) share beyond ``at_init``: the logits, the weighted layers, cross-entropy
weight gradients, input Jacobians, and the rule that a network whose output does not
depend on its input (e.g. NAS-Bench-201 cells whose output node is reached only by
``none`` edges) gets the worst score.

Each score is computed with the network as freshly built with the seed, in train mode
(batch-norm normalises with the minibatch's statistics, as in the reference
implementations), dropout switched off. Higher scores are better; the estimate is
``-score``.
"""
from __future__ import annotations

import math
from abc import abstractmethod
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from monas.data import ScoringData
from monas.estimators.at_init import MinibatchEstimator, seeded_build, train_without_dropout
from monas.estimators.base import EstimationError, deterministic_kernels

WEIGHTED_LAYERS = (nn.Conv2d, nn.Linear)
"""The layers whose weights the gradient scores read (biases and batch-norm excluded)."""


def logits_of(output) -> torch.Tensor:
    """The logits of a network's output (networks with an auxiliary head return
    ``(logits, auxiliary logits)`` in train mode)."""
    return output[0] if isinstance(output, tuple) else output


def weighted_layers(net: nn.Module) -> list[nn.Module]:
    """Every ``nn.Conv2d`` and ``nn.Linear`` of ``net``, in module order."""
    return [m for m in net.modules() if isinstance(m, WEIGHTED_LAYERS)]


def ignores_input(logits: torch.Tensor) -> bool:
    """Whether every image got exactly the same logits: the output is disconnected from
    the input (a zeroed path), so no score can tell such a network apart."""
    return bool((logits == logits[:1]).all())


def cross_entropy_backward(net: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Set the parameters' ``.grad`` to the gradients of the mean cross-entropy of
    ``net`` on one minibatch (previous gradients cleared); returns the logits."""
    net.zero_grad(set_to_none=True)
    logits = logits_of(net(images))
    F.cross_entropy(logits, labels).backward()
    return logits.detach()


def input_jacobians(net: nn.Module, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(J, logits): row i of the float64 (N, C*H*W) matrix J is the gradient of image
    i's summed logits with respect to its pixels (the per-image Jacobian of the
    reference implementations: backward of the output against a tensor of ones)."""
    x = images.detach().clone().requires_grad_(True)
    logits = logits_of(net(x))
    (grad,) = torch.autograd.grad(logits.sum(), x)
    return grad.reshape(len(x), -1).to(torch.float64), logits.detach()


class MinibatchScore(MinibatchEstimator):
    """``-score`` of the network initialised with ``seed`` on ``batch_size`` training
    images drawn with ``seed``; lower is better. A network whose output ignores its
    input scores ``disconnected``; a non-finite score raises EstimationError."""

    disconnected: float
    """The estimate of a network whose output does not depend on its input; above any
    estimate of a connected network (``worst`` is above it)."""
    @abstractmethod
    def score(self, net: nn.Module, images: torch.Tensor, labels: torch.Tensor, num_classes: int) -> float | None:
        """The signal (higher is better) of ``net`` on the minibatch; None when the
        network's output does not depend on its input."""

    def estimate(self, arch: str, build: Callable[[], nn.Module], data: ScoringData | None, device: torch.device) -> float:
        images, labels = self.minibatch(data)
        net = train_without_dropout(seeded_build(build, self.seed), device)
        with deterministic_kernels():
            value = self.score(net, images.to(device), labels.to(device), data.num_classes)
        if value is None:
            return self.disconnected
        if not math.isfinite(value):
            raise EstimationError(f"the {self.name} score is not finite ({value})")
        return -value
