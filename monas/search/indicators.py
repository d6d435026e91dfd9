"""How close an approximated front comes to a known Pareto front (benchmarks with
ground truth, such as NAS-Bench-201).

Objectives are minimised and normalised by the known front's ideal point (its best
value per objective) and nadir point (its worst value per objective on the front), so
that every objective spans [0, 1] on the known front whatever its unit. On that scale:
the hypervolume ratio (hypervolume against the reference point 1.1 per objective, as a
fraction of the known front's), IGD+ (pymoo's ``IGDPlus``: mean distance from each
known point to the nearest approximating point, counting only the objectives in which
the approximation is worse) and the share of the known front's members found.
"""
from __future__ import annotations

from typing import Collection, Iterable

import numpy as np
from pymoo.indicators.hv import HV
from pymoo.indicators.igd_plus import IGDPlus

from monas.search.front import REFERENCE_POINT, non_dominated


class ReferenceFront:
    """The known Pareto front of objective vectors ``F`` (rows, minimised), and the
    indicators of an approximating set of vectors measured against it."""

    def __init__(self, F: np.ndarray) -> None:
        F = np.asarray(F, dtype=float)
        if F.ndim != 2 or len(F) == 0:
            raise ValueError("a reference front needs at least one objective vector")
        self.front = F[non_dominated(F)]
        self.ideal = self.front.min(axis=0)
        self.nadir = self.front.max(axis=0)
        span = self.nadir - self.ideal
        self._span = np.where(span > 0, span, 1.0)  # a one-point front: any unit
        self._hv = HV(ref_point=np.full(F.shape[1], REFERENCE_POINT))
        self._igd_plus = IGDPlus(self.normalise(self.front))
        self.hypervolume = self._volume(self.front)

    def normalise(self, F: np.ndarray) -> np.ndarray:
        """``F`` mapped so that the ideal point is 0 and the nadir point 1 per objective."""
        return (np.asarray(F, dtype=float).reshape(-1, len(self.ideal)) - self.ideal) / self._span

    def hypervolume_ratio(self, F: np.ndarray) -> float:
        """Hypervolume of ``F`` (normalised; points beyond the reference point add
        nothing) over the known front's: 1 for the known front itself, 0 for an
        empty set."""
        return self._volume(F) / self.hypervolume

    def igd_plus(self, F: np.ndarray) -> float:
        """IGD+ of ``F`` against the known front, in normalised units (0: it covers the
        known front); infinite for an empty set."""
        F = self.normalise(F)
        return float(self._igd_plus(F)) if len(F) else float("inf")

    def _volume(self, F: np.ndarray) -> float:
        F = self.normalise(F)
        return float(self._hv(F)) if len(F) else 0.0


def share_found(found: Iterable[str], members: Collection[str]) -> float:
    """The fraction of ``members`` (the names of the known front's members) that are
    among ``found``."""
    if not members:
        raise ValueError("the known front has no members")
    return len(set(found) & set(members)) / len(members)
