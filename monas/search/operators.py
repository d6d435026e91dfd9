"""Variation operators for nominal integer genes.

Crossover is pymoo's uniform crossover: it only swaps values between parents at the
same position, so every child gene is a value one parent had there (no "op 3 lies
between ops 2 and 4" arithmetic, and positional input bounds hold). pymoo's integer
mutation (polynomial + rounding) is ordinal and its ``ChoiceRandomMutation`` needs
mixed-variable dicts, so random-reset mutation for integer vectors is written here.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
from pymoo.core.duplicate import DuplicateElimination
from pymoo.core.mutation import Mutation
from pymoo.operators.crossover.ux import UniformCrossover
from pymoo.operators.sampling.rnd import IntegerRandomSampling

__all__ = ["CanonicalDuplicateElimination", "IntegerRandomSampling", "RandomResetMutation", "UniformCrossover"]


class RandomResetMutation(Mutation):
    """Each gene, with probability ``prob_var`` (default 1/n_var), is redrawn uniformly
    from the *other* values its bounds allow."""

    def _do(self, problem, X, random_state=None, **kwargs):
        X = np.asarray(X).astype(np.int64)
        lower, upper = (np.asarray(b, dtype=np.int64) for b in problem.bounds())
        width = upper - lower
        prob_var = self.get_prob_var(problem, size=len(X))
        mutate = random_state.random(X.shape) < np.reshape(prob_var, (-1, 1))
        mutate &= width > 0
        # Draw an offset in 1..width and wrap, so the new value always differs.
        offset = np.floor(random_state.random(X.shape) * width).astype(np.int64) + 1
        shifted = lower + (X - lower + offset) % (width + 1)
        return np.where(mutate, shifted, X)


class CanonicalDuplicateElimination(DuplicateElimination):
    """Treats two individuals as duplicates when they build the same network, i.e.
    when ``key(genome)`` (the space's canonical string) is equal."""

    def __init__(self, key: Callable[[np.ndarray], str]) -> None:
        super().__init__()
        self.key = key

    def _do(self, pop, other, is_duplicate):
        seen = set() if other is None else {self.key(ind.X) for ind in other}
        for i, ind in enumerate(pop):
            k = self.key(ind.X)
            if k in seen:
                is_duplicate[i] = True
            else:
                seen.add(k)
        return is_duplicate
