"""The pymoo Problem: a batch of genomes -> objective matrix (and constraint matrix,
when the search has bounds), through a cache keyed by the canonical architecture
string, so no network is evaluated twice."""
from __future__ import annotations

from typing import Callable, Iterator, Sequence

import numpy as np
from pymoo.core.problem import Problem

from monas.search.evaluation import Evaluation
from monas.search.objectives import Objective, bound_violations
from search_spaces.base import SearchSpace

Runner = Callable[[list[tuple[np.ndarray, int]]], Iterator[Evaluation]]


class ArchitectureProblem(Problem):
    """Minimise ``objectives`` over ``space``'s genomes.

    ``runner(jobs)`` scores (genome, generation) jobs and yields each Evaluation as it
    finishes (monas.search.runners); every new Evaluation is stored in ``cache`` and passed to
    ``on_evaluated`` (the run record, a progress bar) the moment it arrives.
    ``bounds`` (name -> upper bound) become inequality constraints (``G``: value / bound
    - 1 <= 0), so NSGA-II's constrained dominance prefers networks within them.
    ``generation`` is set by the search loop before each batch. The callables are not
    pickled with the problem, so a checkpoint of the algorithm stays small; reattach
    them with ``attach`` after loading.
    """

    def __init__(self, space: SearchSpace, objectives: Sequence[Objective], bounds: dict | None = None) -> None:
        lower, upper = space.bounds
        limits = dict(bounds or {})
        super().__init__(n_var=space.n_var, n_obj=len(objectives), n_ieq_constr=len(limits), xl=lower, xu=upper, vtype=int)
        self.space = space
        self.objectives = tuple(objectives)
        self.limits = limits
        self.cache: dict[str, Evaluation] = {}
        self.generation = 0
        self._runner: Runner | None = None
        self._on_evaluated: Callable[[Evaluation], None] = lambda e: None

    def attach(self, runner: Runner, on_evaluated: Callable[[Evaluation], None], cache: dict[str, Evaluation]) -> None:
        """Connect the runner, the listener and the cache of earlier evaluations."""
        self._runner = runner
        self._on_evaluated = on_evaluated
        self.cache = cache

    def _evaluate(self, X, out, *args, **kwargs):
        assert self._runner is not None, "attach() a runner first"
        genomes = np.asarray(X).astype(np.int64)
        keys = [self.space.canonical(g) for g in genomes]
        new: dict[str, np.ndarray] = {}
        for key, genome in zip(keys, genomes):
            if key not in self.cache:
                new.setdefault(key, genome)  # the first genome seen for a network is the one recorded
        for evaluation in self._runner([(g, self.generation) for g in new.values()]):
            self.cache[evaluation.arch] = evaluation
            self._on_evaluated(evaluation)
        out["F"] = np.array([[self.cache[k].objectives[o.name] for o in self.objectives] for k in keys], dtype=float)
        if self.limits:
            out["G"] = np.array([bound_violations(self.cache[k].objectives, self.limits) for k in keys], dtype=float)

    def __getstate__(self):
        state = self.__dict__.copy()
        state.update(_runner=None, _on_evaluated=None, cache={})
        return state
