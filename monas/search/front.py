"""Non-dominated sets and their normalised hypervolume (pymoo's sorting and HV)."""
from __future__ import annotations

import numpy as np
from pymoo.indicators.hv import HV
from pymoo.util.nds.non_dominated_sorting import NonDominatedSorting

REFERENCE_POINT = 1.1  # in normalised units, per objective


def non_dominated(F: np.ndarray) -> np.ndarray:
    """Indices of the rows of ``F`` (minimised) that no other row dominates."""
    F = np.asarray(F, dtype=float)
    if len(F) == 0:
        return np.array([], dtype=int)
    return np.asarray(NonDominatedSorting().do(F, only_non_dominated_front=True), dtype=int)


def normalised_hypervolume(F: np.ndarray, scale: np.ndarray) -> float:
    """Hypervolume of ``F / scale`` against the point (1.1, ..., 1.1), divided by the
    volume of the box from the origin to that point (1.1 ** number of objectives): the
    share of the box the front dominates, in [0, 1] when every objective lies between 0
    and its ``scale`` (an error in %, with ``scale`` 100).

    ``scale`` holds a fixed worst value per objective (see ``search.normalisation``), so
    values from different generations of a run are comparable.
    """
    F = np.asarray(F, dtype=float) / np.asarray(scale, dtype=float)
    if len(F) == 0:
        return 0.0
    return float(HV(ref_point=np.full(F.shape[1], REFERENCE_POINT))(F)) / REFERENCE_POINT ** F.shape[1]
