"""ZiCo (Li et al., ICLR 2023, "Zero-Cost Proxy for NAS via Inverse Coefficient of
Variation of Gradients"): networks whose weight gradients are large and consistent
across minibatches train faster and generalise better.

The scoring minibatch is split into ``batches`` equal minibatches; for each, the
gradients of the mean cross-entropy with respect to the weights of every ``nn.Conv2d``
and ``nn.Linear`` are taken at initialisation. For each layer, over its weights theta
whose gradient varies across the minibatches (standard deviation > 0),

    layer score = log( sum over theta of mean|g_theta| / std(g_theta) ),

mean and (population) standard deviation taken across the minibatches, as in the
reference implementation (ZiCo's ``caculate_zico``); layers with no such weight add
nothing. The ZiCo score is the sum over layers; the estimate is ``-score``. The
reference scores NAS-Bench-201 with two minibatches; by default they hold 8 images
each here (``batch_size=16``), which keeps a full-size NAS-Bench-201 network near 0.3
CPU seconds.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from monas.estimators.zero_cost import MinibatchScore, cross_entropy_backward, ignores_input, weighted_layers
from monas.registry import ESTIMATORS

DISCONNECTED = 1.0e6
"""The estimate of a network whose output ignores its input (all its gradients vanish)."""


def zico_score(net: nn.Module, images: torch.Tensor, labels: torch.Tensor, batches: int = 2) -> float | None:
    """The ZiCo score of ``net`` with ``images`` split into ``batches`` minibatches;
    None when every minibatch's logits are the same for all its images."""
    layers = weighted_layers(net)
    grads: list[list[torch.Tensor]] = [[] for _ in layers]
    connected = False
    for x, y in zip(images.tensor_split(batches), labels.tensor_split(batches)):
        logits = cross_entropy_backward(net, x, y)
        connected |= not ignores_input(logits)
        for per_layer, layer in zip(grads, layers):
            if layer.weight.grad is not None:
                per_layer.append(layer.weight.grad.detach().flatten().to(torch.float64))
    if not connected:
        return None
    score = 0.0
    for per_layer in grads:
        if len(per_layer) < batches:  # the layer is not on the path to the loss
            continue
        g = torch.stack(per_layer)
        std = g.std(dim=0, unbiased=False)
        varies = std > 0
        total = float((g.abs().mean(dim=0)[varies] / std[varies]).sum())
        if total > 0:
            score += math.log(total)
    return score


@ESTIMATORS.register("zico")
class ZiCo(MinibatchScore):
    """``-ZiCo`` over ``batches`` minibatches that together hold ``batch_size`` images."""

    name = "zico"
    disconnected = DISCONNECTED
    worst = 2 * DISCONNECTED

    def __init__(self, batch_size: int = 16, batches: int = 2, seed: int = 0) -> None:
        if batches < 2:
            raise ValueError("zico needs batches >= 2 (the spread of gradients across minibatches)")
        if batch_size < 2 * batches:
            raise ValueError(f"zico needs batch_size >= 2 * batches ({2 * batches}): two images per minibatch")
        super().__init__(batch_size, seed)
        self.batches = batches

    def score(self, net: nn.Module, images: torch.Tensor, labels: torch.Tensor, num_classes: int) -> float | None:
        return zico_score(net, images, labels, self.batches)
