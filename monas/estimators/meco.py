"""MeCo (Jiang et al., NeurIPS 2023, "MeCo: Zero-Shot NAS with One Data and Single
Forward Pass via Minimum Eigenvalue of Correlation"): a network whose feature maps have
channels that are far from linearly dependent trains well.

One forward pass of a single image through the network at initialisation, every module
hooked (as in the reference implementation: containers, cells, activations,
convolutions, normalisations alike). For a module's output of shape (1, C, H, W), the
C channel maps of the image are correlated with each other over the H*W positions
(Pearson, ``torch.corrcoef`` of the (C, H*W) matrix; undefined entries, from channels
that are constant, set to 0), and the module contributes the minimum eigenvalue of that
C x C matrix. The MeCo score is the sum over modules; the estimate is ``-score``.
Outputs with one channel or one position (pooled vectors, logits) have no correlation
to measure and add nothing (in the reference their all-zero matrix adds 0).

``channels > 0`` gives the paper's cheaper MeCo_opt: each module's correlation is over
``channels`` channels sampled (with ``seed``) and its minimum eigenvalue is scaled by
C / ``channels``; modules with fewer channels use them all.

Whether the output depends on the input is checked by a second forward pass of another
image: identical logits mean a disconnected network (estimate ``DISCONNECTED``).
"""
from __future__ import annotations

import torch
from torch import nn

from monas.estimators.zero_cost import MinibatchScore, ignores_input, logits_of
from monas.registry import ESTIMATORS

DISCONNECTED = 1.0e6
"""The estimate of a network whose output ignores its input."""


@torch.no_grad()
def meco_score(net: nn.Module, image: torch.Tensor, channels: int = 0, seed: int = 0) -> float:
    """The MeCo score of ``net`` (in its current mode) on one image of shape (1, C, H, W);
    with ``channels > 0``, MeCo_opt sampling that many channels per module."""
    generator = torch.Generator().manual_seed(seed)
    minima: list[torch.Tensor] = []

    def hook(module: nn.Module, inputs, output) -> None:
        if isinstance(output, tuple):
            output = output[0]
        if not isinstance(output, torch.Tensor) or output.dim() < 2:
            return
        maps = output[0].reshape(output.shape[1], -1).to(torch.float64)
        n = maps.shape[0]
        if n < 2 or maps.shape[1] < 2:
            return
        scale = 1.0
        if 0 < channels < n:
            maps = maps[torch.randperm(n, generator=generator)[:channels].to(maps.device)]
            scale = n / channels
        corr = torch.corrcoef(maps).nan_to_num(nan=0.0, posinf=0.0, neginf=0.0)
        minima.append(torch.linalg.eigvalsh(corr)[0] * scale)

    handles = [m.register_forward_hook(hook) for m in net.modules()]
    try:
        net(image)
    finally:
        for handle in handles:
            handle.remove()
    return float(torch.stack(minima).sum()) if minima else 0.0


@ESTIMATORS.register("meco")
class MeCo(MinibatchScore):
    """``-MeCo`` of the network on the first of two training images drawn with
    ``seed``; the second only checks that the output depends on the input."""

    name = "meco"
    disconnected = DISCONNECTED
    worst = 2 * DISCONNECTED

    def __init__(self, channels: int = 0, seed: int = 0) -> None:
        if channels < 0 or channels == 1:
            raise ValueError("meco needs channels = 0 (all: MeCo) or >= 2 (MeCo_opt)")
        super().__init__(2, seed)
        self.channels = channels

    def score(self, net: nn.Module, images: torch.Tensor, labels: torch.Tensor, num_classes: int) -> float | None:
        with torch.no_grad():
            logits = torch.cat([logits_of(net(images[i : i + 1])) for i in range(2)])
        if ignores_input(logits):
            return None
        return meco_score(net, images[:1], self.channels, self.seed)
