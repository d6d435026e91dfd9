"""A rank ensemble of training-free estimators, calibrated on the search space.

Summing log-ranks of several zero-cost proxies is how AZ-NAS (Lee & Ham, CVPR 2024)
combines them: a network must rank well on every signal to score well, and no signal's
scale dominates. Ranks need a population; a search scores networks one at a time, in
different generations and on different workers, so the population here is fixed: a
reference sample of random networks of the space, scored once by every member in
``prepare``. A network's rank on a member is then the share of the reference sample it
beats, which makes the ensemble's estimate a function of the network alone.

The default members and weights, MeCo 1, MACs 0.5, SynFlow on cell probes 1 and
EPE-NAS 0.5, were chosen by ``benchmarks/ensemble_select.py --guard`` (every subset of
up to four registered training-free signals, weights from {0.5, 1, 2}, that does not
lose Kendall against the previous default on either tuning sample, best by Kendall plus
within-MACs Kendall) on two tuning samples together: 300 NAS-Bench-201 cells (seed 1,
none of the seed-0 report sample) and 100 of the 356 trained DARTS-space networks;
figures and commands in docs/benchmarks.md. MeCo alone ranks NAS-Bench-201 best but
DARTS-space networks worse than their size does; SynFlow scored on each cell alone
(``synflow-cells``) is what holds the ranking up there. It is
the default accuracy objective of every command.
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np
import torch
from torch import nn

from monas.data import ScoringData
from monas.estimators.base import EstimationError, Estimator
from monas.registry import ESTIMATORS


def parse_members(members: str) -> tuple[list[str], list[float]]:
    """(names, weights) of ``name[:weight],...`` (weight 1 when left out); ValueError for a
    weight that is not a positive number or an empty list."""
    names, weights = [], []
    for item in (m.strip() for m in members.split(",") if m.strip()):
        name, colon, weight = item.partition(":")
        try:
            value = float(weight) if colon else 1.0
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"ensemble member {item!r}: the weight after ':' must be a positive number")
        names.append(name.strip())
        weights.append(value)
    if not names:
        raise ValueError("ensemble needs at least one member estimator")
    return names, weights


@ESTIMATORS.register("ensemble")
class RankEnsemble(Estimator):
    """``-sum w_m log q_m`` over the ``members``, where ``q_m`` is the share of the
    reference sample whose estimate by member m is worse than this network's (ties
    count half; smoothed by half a network, so ``0 < q_m < 1``) and ``w_m`` the member's
    weight. ``members`` lists estimators by name, each optionally with ``:weight``
    (a positive number, 1 when left out), e.g. ``params,naswot:2``. Lower is better;
    0 would mean better than every reference network on every member.

    ``prepare`` draws ``reference`` random genomes of the space with ``seed`` and scores
    their networks with every member once; each member is created with ``seed`` and its
    default settings. The members' data needs are merged (the largest ``n_train``).
    """

    name = "ensemble"

    def __init__(self, members: str = "meco,macs:0.5,synflow-cells,epe-nas:0.5", reference: int = 100, seed: int = 0) -> None:
        names, self._weights = parse_members(members)
        if self.name in names:
            raise ValueError("ensemble cannot be its own member")
        if reference < 2:
            raise ValueError(f"ensemble needs reference >= 2 networks, got {reference}")
        self.members = ",".join(n if w == 1 else f"{n}:{w:g}" for n, w in zip(names, self._weights))
        self.reference = reference
        self.seed = seed
        self._members = [ESTIMATORS.create(n, seed=seed) for n in names]
        self.n_train = max(m.n_train for m in self._members)
        self.n_val = max([1, *(m.n_val for m in self._members)]) if self.n_train else 0
        self.worst = sum(self._weights) * math.log(2 * (reference + 1)) + 1.0  # beyond the lowest rank on every member
        self._reference: list[np.ndarray] | None = None

    def prepare(self, space, spec, data: ScoringData | None, device: torch.device) -> None:
        """Prepare every member, then score ``reference`` random networks of ``space``
        with each."""
        for member in self._members:
            member.prepare(space, spec, data, device)
        rng = np.random.default_rng(self.seed)
        lower, upper = space.bounds
        archs = [space.canonical(rng.integers(lower, upper + 1)) for _ in range(self.reference)]
        self._reference = [
            np.sort([m.estimate(a, lambda a=a: space.build(a, spec), data, device) for a in archs]) for m in self._members
        ]

    def estimate(self, arch: str, build: Callable[[], nn.Module], data: ScoringData | None, device: torch.device) -> float:
        if self._reference is None:
            raise EstimationError("the ensemble has no reference sample: call prepare() with the search space first")
        total = 0.0
        for member, weight, reference in zip(self._members, self._weights, self._reference):
            value = member.estimate(arch, build, data, device)
            worse = len(reference) - np.searchsorted(reference, value, side="right")
            ties = np.searchsorted(reference, value, side="right") - np.searchsorted(reference, value, side="left")
            total -= weight * math.log((worse + 0.5 * ties + 0.5) / (len(reference) + 1))
        return total
