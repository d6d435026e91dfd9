"""Random-weight evaluation (Hu et al. 2021): freeze a randomly initialised network,
fit only a linear classifier on its features, report the held-out error.

Features are computed once per initialisation, under ``torch.inference_mode`` and in
channels-last layout, and the head is fitted on the cached features, so the cost is
one forward pass over the scoring images plus a small linear solve.

Two registered forms (``benchmarks/rwe_ablation.py`` measured the difference on
NAS-Bench-201, see docs/benchmarks.md):
- ``rwe``: batch-norm in evaluation mode (at initialisation: identity, so the random
  network's own signal propagation shows) and globally pooled features of every
  resolution stage concatenated;
- ``rwe-plain``: the paper's form, batch-norm on batch statistics and the pooled
  features the network's classifier reads.

``features=stages_mean_std`` (each stage's channel means and deviations, the
ablation's ``stages_gap_std``) is the form that adds most to the default ensemble out
of sample (+0.014 Kendall on 1,000 networks, docs/benchmarks.md), at the cost of ``stages``.
"""
from __future__ import annotations

import functools
from typing import Callable

import torch
from torch import nn

from monas.data import ScoringData
from monas.estimators.at_init import seeded_build
from monas.estimators.base import EstimationError, Estimator
from monas.estimators.heads import HEADS, head_error
from monas.registry import ESTIMATORS

BN_MODES = ("eval", "batch")
FEATURES = ("stages", "stages_mean_std", "final")


class RandomWeightEvaluation(Estimator):
    """Error (%) of a linear head on the frozen random features, averaged over
    ``n_inits`` seeded initialisations.

    ``bn``: ``eval`` uses batch-norm's running statistics (mean 0, variance 1 at
    initialisation); ``batch`` normalises with the statistics of each batch of
    ``batch_size`` images. ``features``: ``stages`` concatenates the globally pooled
    map of every stage (``forward_stages``); ``stages_mean_std`` adds each stage's
    per-channel standard deviation over positions to those means; ``final`` takes
    ``forward_features``.
    """

    name = "rwe"
    error_in_percent = True

    def __init__(
        self,
        n_train: int = 2000,
        n_val: int = 1000,
        head: str = "ridge",
        alpha: float = 1e-3,
        n_inits: int = 1,
        batch_size: int = 250,
        bn: str = "eval",
        features: str = "stages",
        seed: int = 0,
    ) -> None:
        if head not in HEADS:
            raise ValueError(f"unknown head {head!r} (known: {', '.join(HEADS)})")
        if bn not in BN_MODES:
            raise ValueError(f"unknown bn mode {bn!r} (known: {', '.join(BN_MODES)})")
        if features not in FEATURES:
            raise ValueError(f"unknown features {features!r} (known: {', '.join(FEATURES)})")
        if n_inits < 1 or batch_size < 2:
            raise ValueError("n_inits must be >= 1 and batch_size >= 2")
        self.n_train = n_train
        self.n_val = n_val
        self.head = head
        self.alpha = alpha
        self.n_inits = n_inits
        self.batch_size = batch_size
        self.bn = bn
        self.features = features
        self.seed = seed

    def estimate(self, arch: str, build: Callable[[], nn.Module], data: ScoringData, device: torch.device) -> float:
        errors = []
        for k in range(self.n_inits):
            net = seeded_build(build, self.seed + k).to(device, memory_format=torch.channels_last).train(self.bn == "batch").requires_grad_(False)
            train_f = self.extract(net, data.train_x)
            val_f = self.extract(net, data.val_x)
            if not (torch.isfinite(train_f).all() and torch.isfinite(val_f).all()):
                raise EstimationError("the random network produced non-finite features")
            errors.append(head_error(self.head, train_f, data.train_y, val_f, data.val_y, self.alpha))
        return sum(errors) / len(errors)

    @torch.inference_mode()
    def extract(self, net: nn.Module, images: torch.Tensor) -> torch.Tensor:
        """The chosen features of ``images``, computed in batches of ``batch_size``."""
        return torch.cat([self._batch_features(net, images[i : i + self.batch_size]) for i in range(0, len(images), self.batch_size)])

    def _batch_features(self, net: nn.Module, batch: torch.Tensor) -> torch.Tensor:
        batch = batch.contiguous(memory_format=torch.channels_last)
        if self.features == "final":
            return net.forward_features(batch)
        maps = net.forward_stages(batch)
        pooled = [fmap.mean((2, 3)) for fmap in maps]
        if self.features == "stages_mean_std":
            pooled += [fmap.std((2, 3)) for fmap in maps]
        return torch.cat(pooled, dim=1)


ESTIMATORS.register("rwe")(RandomWeightEvaluation)
ESTIMATORS.register("rwe-plain")(functools.partial(RandomWeightEvaluation, bn="batch", features="final"))
