"""AZ-NAS's zero-cost proxies (Lee & Ham, CVPR 2024, "AZ-NAS: Assembling Zero-Cost
Proxies for Network Architecture Search"): expressivity, progressivity and trainability,
read from the block-level feature maps of one forward and one backward pass.

The network is built with ``seed``, re-initialised as the reference implementation does
(Kaiming normal, fan-in; ``at_init.kaiming_fan_in_init``) and run in train mode (batch
statistics) on ``batch_size`` inputs; its ``forward_blocks`` maps f_0 (the stem's) ...,
f_L (one per cell / block) are read. The inputs are by default standard normal noise of
the scoring images' shape, drawn with ``seed``, as the reference scores (its NAS-Bench-201
notebook passes AZ-NAS no data loader, and its proxy then draws ``torch.randn``);
``inputs="images"`` scores the seeded minibatch of training images instead. Noise matters:
on the first 300 networks of the NAS-Bench-201 seed-0 sample, progressivity ranks with
Kendall tau 0.53 on noise and 0.08 on CIFAR-10 images (docs/benchmarks.md). In float64:

- expressivity: for each map, the entropy ``-sum p log(p + 1e-8)`` of its channel
  covariance's eigenvalues normalised to sum 1 (every pixel of every image a sample); the
  score is the sum over maps. Features spread over many directions score high.
- progressivity: the smallest increase of that entropy from one map to the next.
- trainability: for each block, with a Rademacher cotangent g_out on its output, the
  input gradient g_in (pixel-unshuffled to g_out's size when the block downsamples);
  sigma is the largest singular value of ``g_in^T g_out / (pixels)``, the block scores
  ``2 - sigma - 1/(sigma + 1e-6)`` (0 at sigma = 1: gradients neither explode nor
  vanish); the score is the mean over blocks. A block whose input gradient equals the
  cotangent (an identity) scores -inf, as in the reference.

Complexity, AZ-NAS's fourth proxy, ranks networks with more FLOPs higher (its rank
aggregation sorts FLOPs ascending, as it does every proxy where higher is better); that
is exactly the existing ``macs`` estimator (minus MACs, lower is better), so there is no
separate complexity estimator here. AZ-NAS's combination of the four is the rank
ensemble: ``ensemble:members=az-expressivity,az-progressivity,az-trainability,macs``.

The estimates are the scores negated (lower is better). A network whose maps carry no
signal (a cell whose output is disconnected from its input, e.g. all ``none`` edges, zeros
every later map: its covariance has no spectrum to normalise) gets ``DEGENERATE`` on all
three proxies (the reference leaves expressivity and progressivity NaN, ranked last, and
gives trainability a finite but extreme value); so does a proxy that is not finite.
"""
from __future__ import annotations

import hashlib
import math
from collections import OrderedDict
from typing import Callable, NamedTuple

import torch
from torch import nn

from monas.data import ScoringData
from monas.estimators.at_init import MinibatchEstimator, kaiming_fan_in_init, seeded_build, train_without_dropout
from monas.estimators.base import EstimationError, deterministic_kernels
from monas.registry import ESTIMATORS

DEGENERATE = 1.0e12
"""The estimate of a network whose score is not finite (no signal reaches a map); every
finite estimate is below it."""


class AZScores(NamedTuple):
    """AZ-NAS's three proxies of one network, higher is better; NaN or -inf where the
    network gives them no finite value."""

    expressivity: float
    progressivity: float
    trainability: float


def spectral_entropy(feature: torch.Tensor) -> torch.Tensor:
    """The float64 entropy of the normalised eigenvalue spectrum of the channel covariance
    of ``feature`` (N, C, H, W), every pixel of every image one sample; NaN when the
    covariance is 0."""
    samples = feature.detach().to(torch.float64).permute(0, 2, 3, 1).reshape(-1, feature.shape[1])
    samples = samples - samples.mean(dim=0, keepdim=True)
    covariance = samples.T @ samples / len(samples)
    eigenvalues = torch.linalg.eigvalsh(covariance)
    p = eigenvalues / eigenvalues.sum()
    return -(p * torch.log(p + 1e-8)).sum()


def block_trainability(f_in: torch.Tensor, f_out: torch.Tensor, generator: torch.Generator) -> float:
    """``2 - sigma - 1/(sigma + 1e-6)`` of the block that maps ``f_in`` to ``f_out``, for a
    Rademacher cotangent drawn from ``generator`` (CPU); -inf when the input gradient is
    the cotangent itself; sigma is 0 when ``f_out`` does not depend on ``f_in``."""
    g_out = (torch.randint(0, 2, f_out.shape, generator=generator, dtype=f_out.dtype) * 2 - 1).to(f_out.device)
    (g_in,) = torch.autograd.grad(f_out, f_in, grad_outputs=g_out, retain_graph=True, allow_unused=True)
    if g_in is None:  # the block does not read this map (a DARTS cell may use only the map before): no gradient flows
        g_in = torch.zeros_like(f_in)
    if g_in.shape == g_out.shape and torch.equal(g_in, g_out):
        return -math.inf
    if g_in.shape[2:] != g_out.shape[2:]:
        g_in = nn.functional.pixel_unshuffle(g_in, g_in.shape[2] // g_out.shape[2])
    pixels = g_out.shape[0] * g_out.shape[2] * g_out.shape[3]
    g_out = g_out.to(torch.float64).permute(0, 2, 3, 1).reshape(pixels, -1)
    g_in = g_in.to(torch.float64).permute(0, 2, 3, 1).reshape(pixels, -1)
    sigma = torch.linalg.matrix_norm(g_in.T @ g_out / pixels, ord=2).item()
    return 2.0 - sigma - 1.0 / (sigma + 1e-6)


def az_nas_scores(net: nn.Module, inputs: torch.Tensor, seed: int) -> AZScores:
    """The three proxies of ``net`` (in its current mode) on ``inputs``; the trainability
    cotangents are drawn with ``seed``."""
    maps = net.forward_blocks(inputs)
    if len(maps) < 2:
        raise EstimationError("AZ-NAS needs at least one block after the stem")
    entropies = torch.stack([spectral_entropy(m) for m in maps])
    if not torch.isfinite(entropies).all():  # a map without signal: no proxy is defined
        return AZScores(math.nan, math.nan, math.nan)
    generator = torch.Generator().manual_seed(seed)
    blocks = [block_trainability(maps[i - 1], maps[i], generator) for i in reversed(range(1, len(maps)))]
    return AZScores(
        expressivity=entropies.sum().item(),
        progressivity=(entropies[1:] - entropies[:-1]).min().item(),
        trainability=sum(blocks) / len(blocks),
    )


_MEMO: OrderedDict[tuple, AZScores] = OrderedDict()
_MEMO_SIZE = 4096


def memoised_scores(arch: str, net: nn.Module, inputs: torch.Tensor, seed: int, device: torch.device) -> AZScores:
    """``az_nas_scores`` of the freshly initialised ``net`` on ``inputs``, computed once per
    (architecture, network structure, inputs, seed, device).

    The three AZ-NAS estimators are separate so that each can be ranked, ensembled or
    ablated on its own, but they come from one forward/backward pass: the first of them
    to score a network stores all three here and the others read them. The memo is a
    small module-level LRU (a few thousand entries of three floats) rather than a cache
    on an estimator instance, because the ensemble creates each member separately; an
    LRU rather than the last result only, because ``RankEnsemble.prepare`` scores the
    whole reference sample with one member before the next. The key holds everything the
    scores depend on: the architecture string, the network's structure (its ``repr``, so
    two spaces that share a string but not a network never collide), a digest of the
    inputs, the seed and the device; the network's weights follow from the seed.
    """
    key = (arch, repr(net), hashlib.sha1(inputs.detach().cpu().numpy().tobytes()).hexdigest(), seed, str(device))
    if key in _MEMO:
        _MEMO.move_to_end(key)
        return _MEMO[key]
    net = train_without_dropout(net, device)
    with deterministic_kernels():
        scores = az_nas_scores(net, inputs.to(device), seed)
    _MEMO[key] = scores
    if len(_MEMO) > _MEMO_SIZE:
        _MEMO.popitem(last=False)
    return scores


INPUTS = ("noise", "images")
"""What the proxies are computed on: seeded standard normal noise (the reference's) or the
seeded minibatch of training images."""


class _AZProxy(MinibatchEstimator):
    """Minus one AZ-NAS proxy of the network built and initialised with ``seed``, on
    ``batch_size`` inputs: standard normal noise of the training images' shape drawn with
    ``seed`` (``inputs="noise"``), or that many training images drawn with ``seed``
    (``inputs="images"``); lower is better. ``DEGENERATE`` when the proxy is not finite."""

    worst = 2 * DEGENERATE  # a failure ranks below even a degenerate network
    _proxy: str  # the AZScores field

    def __init__(self, batch_size: int = 64, seed: int = 0, inputs: str = "noise") -> None:
        if inputs not in INPUTS:
            raise ValueError(f"{self.name} inputs must be {' or '.join(INPUTS)}, got {inputs!r}")
        super().__init__(batch_size, seed)
        self.inputs = inputs

    def scoring_inputs(self, data: ScoringData | None) -> torch.Tensor:
        """The ``batch_size`` inputs the proxies are computed on (see the class)."""
        images, _ = self.minibatch(data)
        if self.inputs == "images":
            return images
        return torch.randn(images.shape, generator=torch.Generator().manual_seed(self.seed)).to(images.device)

    def estimate(self, arch: str, build: Callable[[], nn.Module], data: ScoringData | None, device: torch.device) -> float:
        inputs = self.scoring_inputs(data)
        net = seeded_build(build, self.seed, init=kaiming_fan_in_init)
        value = getattr(memoised_scores(arch, net, inputs, self.seed, device), self._proxy)
        if not math.isfinite(value) or -value >= DEGENERATE:
            return DEGENERATE
        return -value


@ESTIMATORS.register("az-expressivity")
class AZExpressivity(_AZProxy):
    """Minus AZ-NAS's expressivity: the summed spectral entropy of the block maps."""

    name = "az-expressivity"
    _proxy = "expressivity"


@ESTIMATORS.register("az-progressivity")
class AZProgressivity(_AZProxy):
    """Minus AZ-NAS's progressivity: the smallest block-to-block entropy increase."""

    name = "az-progressivity"
    _proxy = "progressivity"


@ESTIMATORS.register("az-trainability")
class AZTrainability(_AZProxy):
    """Minus AZ-NAS's trainability: the mean block score ``2 - sigma - 1/sigma``."""

    name = "az-trainability"
    _proxy = "trainability"
