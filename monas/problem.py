"""The pymoo Problem: a batch of genomes -> objective matrix, through a cache keyed by
the canonical architecture string, so no network is evaluated twice."""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
from pymoo.core.problem import Problem

from monas.evaluation import Evaluation
from monas.objectives import Objective
from search_spaces.base import SearchSpace

EvaluateFn = Callable[[np.ndarray, int], Evaluation]


class ArchitectureProblem(Problem):
    """Minimise ``objectives`` over ``space``'s genomes.

    ``evaluate(genome, generation)`` scores one genome; every new Evaluation is stored
    in ``cache`` and passed to ``on_evaluated`` (the run record, a progress bar).
    ``generation`` is set by the search loop before each batch. The callables are not
    pickled with the problem, so a checkpoint of the algorithm stays small; reattach
    them with ``attach`` after loading.
    """

    def __init__(self, space: SearchSpace, objectives: Sequence[Objective]) -> None:
        lower, upper = space.bounds
        super().__init__(n_var=space.n_var, n_obj=len(objectives), xl=lower, xu=upper, vtype=int)
        self.space = space
        self.objectives = tuple(objectives)
        self.cache: dict[str, Evaluation] = {}
        self.generation = 0
        self._evaluate_one: EvaluateFn | None = None
        self._on_evaluated: Callable[[Evaluation], None] = lambda e: None

    def attach(self, evaluate: EvaluateFn, on_evaluated: Callable[[Evaluation], None], cache: dict[str, Evaluation]) -> None:
        """Connect the evaluator, the listener and the cache of earlier evaluations."""
        self._evaluate_one = evaluate
        self._on_evaluated = on_evaluated
        self.cache = cache

    def _evaluate(self, X, out, *args, **kwargs):
        assert self._evaluate_one is not None, "attach() an evaluator first"
        rows = []
        for genome in np.asarray(X).astype(np.int64):
            key = self.space.canonical(genome)
            if key not in self.cache:
                evaluation = self._evaluate_one(genome, self.generation)
                self.cache[key] = evaluation
                self._on_evaluated(evaluation)
            rows.append([self.cache[key].objectives[o.name] for o in self.objectives])
        out["F"] = np.array(rows, dtype=float)

    def __getstate__(self):
        state = self.__dict__.copy()
        state.update(_evaluate_one=None, _on_evaluated=None, cache={})
        return state
