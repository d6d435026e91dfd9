"""The search algorithms ``--algorithm`` names: pymoo's multi-objective algorithms with
monas's operators for nominal integer genes, and random search.

A factory takes the search space, the population size (networks per generation) and
the number of objectives, and returns a pymoo algorithm ready for ``setup``. Every
algorithm judges duplicates by the network a genome builds, also against the networks
evaluated in earlier generations (the problem's cache), and when its variation cannot
breed enough new networks (the population's neighbourhood is all evaluated) the
generation is topped up with new random genomes: each generation evaluates
``pop_size`` new networks while the space has them. Each says what of its state a
checkpoint must hold (``monas.search.state``): ``population_attributes``, the
per-individual values its next generation reads (NSGA-II's tournament reads rank and
crowding distance), and, through ``survival_state``/``restore_survival_state``, what
its survival keeps from one generation to the next (NSGA-III's normalisation points).
"""
from __future__ import annotations

import inspect
from math import comb
from typing import Any

import numpy as np
from pymoo.algorithms.base.genetic import GeneticAlgorithm
from pymoo.algorithms.moo.nsga2 import NSGA2, RankAndCrowding
from pymoo.algorithms.moo.nsga3 import NSGA3
from pymoo.algorithms.moo.sms import SMSEMOA
from pymoo.core.infill import InfillCriterion
from pymoo.core.population import Population
from pymoo.util.ref_dirs import get_reference_directions

from monas.registry import ALGORITHMS
from monas.search.operators import CanonicalDuplicateElimination, IntegerRandomSampling, PointMutation, UniformCrossover
from search_spaces.base import SearchSpace


class SearchAlgorithm:
    """Mixed into the pymoo classes below: duplicates judged against the archive, and
    what a checkpoint holds besides the population's genomes and objectives."""

    population_attributes: tuple[str, ...] = ("rank", "crowding")

    def _setup(self, problem, **kwargs):
        super()._setup(problem, **kwargs)
        self.eliminate_duplicates.archive = lambda: _EarlierGenerations(problem)
        self.mating = _TopUp(self.mating, self.initialization.sampling)

    def survival_state(self) -> dict[str, Any]:
        """State the survival carries between generations, as JSON-compatible data."""
        return {}

    def restore_survival_state(self, state: dict[str, Any]) -> None:
        """Inverse of ``survival_state``; ValueError when ``state`` does not fit."""
        if state:
            raise ValueError("this algorithm keeps no survival state")


class _EarlierGenerations:
    """The networks ``problem`` evaluated in generations before its current one.

    Not the whole cache: a run resumed after being stopped in the middle of a
    generation has that generation's first networks in its archive already, and must
    breed the same offspring as the run that was not stopped."""

    def __init__(self, problem) -> None:
        self.cache = getattr(problem, "cache", {})
        self.generation = getattr(problem, "generation", 0)

    def __contains__(self, key: object) -> bool:
        evaluation = self.cache.get(key)
        return evaluation is not None and evaluation.generation < self.generation


def _operators(space: SearchSpace, crossover: float = 0.0) -> dict:
    """Sampling, variation and duplicate handling for ``space``'s nominal integer genes:
    uniform crossover of two parents with probability ``crossover`` (default off), then
    one gene changed per child (measured in docs/benchmarks.md, "Search quality")."""
    if not 0.0 <= crossover <= 1.0:
        raise ValueError(f"crossover must be a probability in [0, 1], got {crossover}")
    return {
        "sampling": IntegerRandomSampling(),
        "crossover": UniformCrossover(prob=crossover),
        "mutation": PointMutation(),
        "eliminate_duplicates": CanonicalDuplicateElimination(space.canonical),
    }


class _NSGA2(SearchAlgorithm, NSGA2):
    pass


class _SMSEMOA(SearchAlgorithm, SMSEMOA):
    population_attributes = ("rank",)


class _NSGA3(SearchAlgorithm, NSGA3):
    population_attributes = ("rank", "niche", "dist_to_niche")
    _POINTS = ("ideal_point", "worst_point", "nadir_point", "extreme_points")

    def survival_state(self) -> dict[str, Any]:
        norm = self.survival.norm
        return {k: None if getattr(norm, k) is None else np.asarray(getattr(norm, k), dtype=float).tolist() for k in self._POINTS}

    def restore_survival_state(self, state: dict[str, Any]) -> None:
        if set(state) != set(self._POINTS):
            raise ValueError("NSGA-III survival state needs " + ", ".join(self._POINTS))
        n_obj = self.problem.n_obj
        norm = self.survival.norm
        for key in self._POINTS:
            shape = (n_obj, n_obj) if key == "extreme_points" else (n_obj,)
            value = None if state[key] is None else np.array(state[key], dtype=float)
            if value is not None and value.shape != shape:
                raise ValueError(f"NSGA-III {key} has the wrong shape")
            setattr(norm, key, value)
        niche = np.array([n for n in self.pop.get("niche") if n is not None])  # None: outside the bounds, unranked
        if np.any(niche >= len(self.ref_dirs)):
            raise ValueError("bad niche values (beyond the reference directions)")
        self.survival.opt = self.pop  # read only by pymoo's result(): not search state


class _Resample(InfillCriterion):
    """Offspring that are fresh random genomes, whatever the parents."""

    def __init__(self, sampling, **kwargs) -> None:
        super().__init__(**kwargs)
        self.sampling = sampling

    def _do(self, problem, pop, n_offsprings, random_state=None, **kwargs):
        return self.sampling(problem, n_offsprings, random_state=random_state)


class _TopUp(InfillCriterion):
    """The offspring of ``mating``, topped up with new random genomes when it cannot
    breed enough new networks."""

    def __init__(self, mating: InfillCriterion, sampling) -> None:
        super().__init__(eliminate_duplicates=mating.eliminate_duplicates, n_max_iterations=mating.n_max_iterations)
        self.mating = mating
        self.fresh = _Resample(sampling, eliminate_duplicates=mating.eliminate_duplicates, n_max_iterations=mating.n_max_iterations)

    def do(self, problem, pop, n_offsprings, **kwargs):
        off = self.mating.do(problem, pop, n_offsprings, **kwargs)
        if len(off) < n_offsprings:
            off = Population.merge(off, self.fresh.do(problem, Population.merge(pop, off), n_offsprings - len(off), **kwargs))
        return off


class RandomSearch(SearchAlgorithm, GeneticAlgorithm):
    """Random search in pymoo's loop: every generation evaluates ``pop_size`` new
    uniformly drawn networks (one already evaluated is drawn again); the population
    keeps the best ``pop_size`` networks by NSGA-II's rank and crowding, which only
    reports the front and never steers the sampling."""

    def __init__(self, pop_size: int, sampling, eliminate_duplicates, **kwargs) -> None:
        mating = _Resample(sampling, eliminate_duplicates=eliminate_duplicates, n_max_iterations=100)
        super().__init__(pop_size=pop_size, sampling=sampling, survival=RankAndCrowding(), mating=mating,
                         eliminate_duplicates=eliminate_duplicates, advance_after_initial_infill=True, **kwargs)


@ALGORITHMS.register("nsga2")
def nsga2(space: SearchSpace, pop_size: int, n_obj: int, crossover: float = 0.0) -> NSGA2:
    """NSGA-II (Deb et al., 2002): non-dominated sorting and crowding distance."""
    return _NSGA2(pop_size=pop_size, **_operators(space, crossover))


@ALGORITHMS.register("age-moea2")
def age_moea2(space: SearchSpace, pop_size: int, n_obj: int, crossover: float = 0.0) -> GeneticAlgorithm:
    """AGE-MOEA-II (Panichella, 2022): survival by the estimated geometry of the front."""
    from pymoo.algorithms.moo.age2 import AGEMOEA2  # imports numba (about 0.5 s): only when chosen

    return type("_AGEMOEA2", (SearchAlgorithm, AGEMOEA2), {})(pop_size=pop_size, **_operators(space, crossover))


@ALGORITHMS.register("sms-emoa")
def sms_emoa(space: SearchSpace, pop_size: int, n_obj: int, crossover: float = 0.0) -> SMSEMOA:
    """SMS-EMOA (Beume et al., 2007): the last front is cut by least hypervolume contribution."""
    return _SMSEMOA(pop_size=pop_size, **_operators(space, crossover))


@ALGORITHMS.register("nsga3")
def nsga3(space: SearchSpace, pop_size: int, n_obj: int, crossover: float = 0.0) -> NSGA3:
    """NSGA-III (Deb & Jain, 2014): niching on Das-Dennis reference directions, as many
    as fit in the population; meant for three objectives and more."""
    partitions = 1
    while _das_dennis_size(n_obj, partitions + 1) <= pop_size:
        partitions += 1
    ref_dirs = get_reference_directions("das-dennis", n_obj, n_partitions=partitions)
    return _NSGA3(ref_dirs=ref_dirs, pop_size=pop_size, **_operators(space, crossover))


@ALGORITHMS.register("random")
def random_search(space: SearchSpace, pop_size: int, n_obj: int) -> RandomSearch:
    """Random search: ``pop_size`` new uniformly drawn networks per generation."""
    operators = _operators(space)
    return RandomSearch(pop_size, operators["sampling"], operators["eliminate_duplicates"])


def crosses_over(name: str) -> bool:
    """Whether the algorithm registered as ``name`` takes a ``crossover`` probability
    (random search breeds nothing)."""
    return "crossover" in inspect.signature(ALGORITHMS.get(name)).parameters


def _das_dennis_size(n_obj: int, partitions: int) -> int:
    """Number of Das-Dennis reference directions: C(partitions + n_obj - 1, n_obj - 1)."""
    return comb(partitions + n_obj - 1, n_obj - 1)
