"""The gradient-saliency zero-cost proxies as defined by Abdelfattah et al. (ICLR 2021,
"Zero-Cost Proxies for Lightweight NAS") and NAS-Bench-Suite-Zero (Krishnakumar et al.,
NeurIPS 2022): one backward pass of the mean cross-entropy of a minibatch at
initialisation, read at every ``nn.Conv2d`` and ``nn.Linear`` (batch-norm included in
the network, biases not scored), summed over layers.

- ``grad-norm``: sum over layers of the L2 norm of the layer's weight gradient.
- ``snip`` (Lee et al., ICLR 2019): sum over weights of |theta * dL/dtheta|.
- ``fisher`` (Turner et al., ICLR 2020; Theis et al. 2018): for each layer's output
  activation a (N, C, H, W) and its gradient g, per channel k
  ``F_k = 1/2 * mean over images of (sum over positions of a * g)^2`` (for a linear
  layer's (N, C) output, a * g itself); as in the reference, each channel's F_k is
  broadcast to the channel's weights (its fan-in, C_in * kernel area, for a linear
  layer its in_features) before the sum, so a layer adds ``sum_k F_k * fan_in``.

Higher is better for all three; the estimate is ``-score``. The reference scores
NAS-Bench-201 on one minibatch of 64 images; the default here is 16, which keeps a
full-size NAS-Bench-201 network near 0.2 CPU seconds (``batch_size`` restores 64).
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from monas.estimators.zero_cost import MinibatchScore, cross_entropy_backward, ignores_input, weighted_layers
from monas.registry import ESTIMATORS

DISCONNECTED = 1.0e6
"""The estimate of a network whose output ignores its input (scores are >= 0)."""


def _weight_gradient_score(
    net: nn.Module, images: torch.Tensor, labels: torch.Tensor, per_layer: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
) -> float | None:
    logits = cross_entropy_backward(net, images, labels)
    if ignores_input(logits):
        return None
    with torch.no_grad():
        terms = [
            per_layer(layer.weight.detach().to(torch.float64), layer.weight.grad.to(torch.float64))
            for layer in weighted_layers(net)
            if layer.weight.grad is not None
        ]
    return float(torch.stack(terms).sum()) if terms else 0.0


def grad_norm_score(net: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> float | None:
    """Sum over layers of ||dL/dW||_2; None when the output ignores the input."""
    return _weight_gradient_score(net, images, labels, lambda w, g: g.norm())


def snip_score(net: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> float | None:
    """Sum over weights of |w * dL/dw|; None when the output ignores the input."""
    return _weight_gradient_score(net, images, labels, lambda w, g: (w * g).abs().sum())


def fisher_score(net: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> float | None:
    """Sum over layers and output channels of F_k * fan-in (module docstring); None when
    the output ignores the input."""
    layers = weighted_layers(net)
    saliencies: list[torch.Tensor] = []

    def hook(layer: nn.Module, inputs, output: torch.Tensor) -> None:
        activation = output.detach()
        fan_in = layer.weight[0].numel()

        def on_gradient(grad: torch.Tensor) -> None:
            product = (activation * grad).to(torch.float64)
            per_channel = product.sum(dim=tuple(range(2, product.dim()))) if product.dim() > 2 else product
            saliencies.append(0.5 * per_channel.pow(2).mean(dim=0).sum() * fan_in)

        if output.requires_grad:
            output.register_hook(on_gradient)

    handles = [layer.register_forward_hook(hook) for layer in layers]
    try:
        logits = cross_entropy_backward(net, images, labels)
    finally:
        for handle in handles:
            handle.remove()
    if ignores_input(logits):
        return None
    return float(torch.stack(saliencies).sum()) if saliencies else 0.0


class _Saliency(MinibatchScore):
    disconnected = DISCONNECTED
    worst = 2 * DISCONNECTED
    measure: Callable[[nn.Module, torch.Tensor, torch.Tensor], float | None]

    def __init__(self, batch_size: int = 16, seed: int = 0) -> None:
        super().__init__(batch_size, seed)

    def score(self, net: nn.Module, images: torch.Tensor, labels: torch.Tensor, num_classes: int) -> float | None:
        return type(self).measure(net, images, labels)


@ESTIMATORS.register("grad-norm")
class GradNorm(_Saliency):
    """``-grad_norm`` on ``batch_size`` training images and their labels."""

    name = "grad-norm"
    measure = staticmethod(grad_norm_score)


@ESTIMATORS.register("snip")
class Snip(_Saliency):
    """``-snip`` on ``batch_size`` training images and their labels."""

    name = "snip"
    measure = staticmethod(snip_score)


@ESTIMATORS.register("fisher")
class Fisher(_Saliency):
    """``-fisher`` on ``batch_size`` training images and their labels."""

    name = "fisher"
    measure = staticmethod(fisher_score)
