"""Signals scored on a space's cells alone instead of on the deep network.

A cell space repeats a few kinds of cell (NAS-Bench-201 one, DARTS a normal and a
reduction cell) many times behind a stem. SWAP's authors score DARTS-space networks on
one cell, stemless, at the image's 3 channels (Peng et al., ICLR 2024, their
``correlation.py``); measured here, SynFlow on such cell probes ranks the 356 trained
DARTS-space networks far better than on the 8-cell, 16-channel network (Spearman about
0.9 against 0.71), and NAS-Bench-201 cells as well as on the full network
(docs/benchmarks.md). SynFlow multiplies weights along every path, so in a deep stack
the depth's products swamp what distinguishes one cell from another.

Each estimator here wraps a registered signal: its estimate of an architecture is the
mean of the signal's estimates on the space's ``cell_probes`` (a space without cells
probes the network itself). The probes need the space, which ``prepare`` supplies.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from monas.data import ScoringData
from monas.estimators.base import EstimationError, Estimator
from monas.registry import ESTIMATORS


class OnCellProbes(Estimator):
    """The mean of ``signal``'s estimates (created with ``seed`` and its defaults) on
    the space's cell probes; lower is better. Subclasses name the ``signal``."""

    signal: str

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self._signal = ESTIMATORS.create(self.signal, seed=seed)
        self.n_train = self._signal.n_train
        self.n_val = self._signal.n_val
        self.worst = self._signal.worst
        self._space = self._spec = None

    def prepare(self, space, spec, data: ScoringData | None, device: torch.device) -> None:
        """Keep the space and input spec whose probes are scored."""
        self._space, self._spec = space, spec

    def estimate(self, arch: str, build: Callable[[], nn.Module], data: ScoringData | None, device: torch.device) -> float:
        if self._space is None:
            raise EstimationError(f"{self.name} has no search space to probe: call prepare() first")
        probes = self._space.cell_probes(arch, self._spec)
        return sum(self._signal.estimate(arch, probe, data, device) for probe in probes) / len(probes)


@ESTIMATORS.register("synflow-cells")
class SynFlowCells(OnCellProbes):
    """SynFlow (``synflow``: ``-log`` of the score) averaged over the space's cell
    probes: ``-log`` of the scores' geometric mean."""

    name = "synflow-cells"
    signal = "synflow"
