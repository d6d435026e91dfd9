"""Variation operators for nominal integer genes.

Crossover is pymoo's uniform crossover: it only swaps values between parents at the
same position, so every child gene is a value one parent had there (no "op 3 lies
between ops 2 and 4" arithmetic, and positional input bounds hold). pymoo's integer
mutation (polynomial + rounding) is ordinal and its ``ChoiceRandomMutation`` needs
mixed-variable dicts, so point mutation for integer vectors is written here (exactly
one gene redrawn among its other values: a child one edit away from its parent; it
replaced random-reset mutation of each gene with probability 1/n, see "Search
quality" in docs/benchmarks.md).
Duplicates are judged by the network a genome builds, and optionally also against an
archive of every network evaluated so far, so each generation evaluates new networks.
"""
from __future__ import annotations

from typing import Callable, Container

import numpy as np
from pymoo.core.duplicate import DuplicateElimination
from pymoo.core.mutation import Mutation
from pymoo.operators.crossover.ux import UniformCrossover
from pymoo.operators.sampling.rnd import IntegerRandomSampling

__all__ = ["CanonicalDuplicateElimination", "IntegerRandomSampling", "PointMutation", "UniformCrossover"]


class PointMutation(Mutation):
    """Exactly ``genes`` genes of each genome, chosen uniformly among those whose bounds
    allow more than one value, are redrawn uniformly from their *other* values: every
    child lies ``genes`` edits from its parent (``prob_var`` is not used)."""

    def __init__(self, genes: int = 1, **kwargs) -> None:
        super().__init__(**kwargs)
        self.genes = genes

    def _do(self, problem, X, random_state=None, **kwargs):
        X = np.asarray(X).astype(np.int64)
        lower, upper = (np.asarray(b, dtype=np.int64) for b in problem.bounds())
        mutable = upper > lower
        keys = np.where(mutable, random_state.random(X.shape), np.inf)
        chosen = np.argsort(keys, axis=1)[:, : min(self.genes, int(mutable.sum()))]
        mutate = np.zeros(X.shape, dtype=bool)
        np.put_along_axis(mutate, chosen, True, axis=1)
        return _redraw(X, mutate, lower, upper, random_state)


def _redraw(X: np.ndarray, mutate: np.ndarray, lower: np.ndarray, upper: np.ndarray, random_state) -> np.ndarray:
    """``X`` with the genes where ``mutate`` holds redrawn uniformly from the values
    their bounds allow other than their own."""
    width = upper - lower
    # Draw an offset in 1..width and wrap, so the new value always differs.
    offset = np.floor(random_state.random(X.shape) * width).astype(np.int64) + 1
    shifted = lower + (X - lower + offset) % (width + 1)
    return np.where(mutate, shifted, X)


class CanonicalDuplicateElimination(DuplicateElimination):
    """Treats two individuals as duplicates when they build the same network, i.e.
    when ``key(genome)`` (the space's canonical string) is equal; with ``archive`` set
    (a callable returning the keys of every network evaluated so far), a network in
    the archive is a duplicate too."""

    def __init__(self, key: Callable[[np.ndarray], str], archive: Callable[[], Container[str]] | None = None) -> None:
        super().__init__()
        self.key = key
        self.archive = archive

    def _do(self, pop, other, is_duplicate):
        seen = set() if other is None else {self.key(ind.X) for ind in other}
        archived = self.archive() if other is None and self.archive is not None else ()
        for i, k in enumerate(map(self.key, pop.get("X"))):  # each network's key computed once
            if k in seen or k in archived:
                is_duplicate[i] = True
            else:
                seen.add(k)
        return is_duplicate
