"""Every registered algorithm evaluates ``pop_size`` new networks per generation (never
one twice), also once variation cannot breed new ones."""
import zlib

import numpy as np
import pytest
from pymoo.core.infill import InfillCriterion
from pymoo.core.population import Population
from pymoo.termination.max_gen import MaximumGenerationTermination

import search_spaces
from monas.registry import ALGORITHMS
from monas.search.algorithms import _TopUp
from monas.search.driver import build_algorithm
from monas.search.evaluation import Evaluation
from monas.search.objectives import parse_objectives
from monas.search.operators import CanonicalDuplicateElimination, IntegerRandomSampling
from monas.search.problem import ArchitectureProblem

SPACE = search_spaces.SPACES.create("nb201")


def made_up(jobs):
    """Objectives from the architecture's checksum (no network built)."""
    for genome, generation in jobs:
        arch = SPACE.canonical(genome)
        h = zlib.crc32(arch.encode()) % 1000
        yield Evaluation(arch, [int(g) for g in genome], {"error": h / 10, "macs": float(h % 37), "params": 1.0}, 0.0, generation)


@pytest.mark.parametrize("name", ALGORITHMS.names())
def test_each_generation_evaluates_pop_size_new_networks(name):
    evaluated = []
    problem = ArchitectureProblem(SPACE, parse_objectives("error,macs"))
    problem.attach(made_up, lambda e: evaluated.append(e.arch), {})
    algorithm = build_algorithm(SPACE, 8, name)
    algorithm.setup(problem, termination=MaximumGenerationTermination(6), seed=0)
    counts = []
    while algorithm.has_next():
        before = len(evaluated)
        problem.generation += 1  # as the driver does
        algorithm.next()
        counts.append(len(evaluated) - before)
    assert counts == [8] * 6 and len(set(evaluated)) == len(evaluated)


class Barren(InfillCriterion):
    """A mating that never breeds anything."""

    def _do(self, problem, pop, n_offsprings, **kwargs):
        return Population.new(X=np.zeros((0, problem.n_var), dtype=np.int64))


def test_a_barren_generation_is_topped_up_with_new_random_networks():
    problem = ArchitectureProblem(SPACE, parse_objectives("error,macs"))
    dedup = CanonicalDuplicateElimination(SPACE.canonical)
    pop = Population.new(X=np.random.default_rng(0).integers(0, 5, size=(4, 6)))
    archive = {SPACE.canonical(x) for x in pop.get("X")}
    dedup.archive = lambda: archive
    off = _TopUp(Barren(eliminate_duplicates=dedup, n_max_iterations=3), IntegerRandomSampling()).do(
        problem, pop, 5, random_state=np.random.default_rng(1))
    keys = [SPACE.canonical(x) for x in off.get("X")]
    assert len(keys) == len(set(keys)) == 5 and not set(keys) & archive


CROSSING = [n for n in ALGORITHMS.names() if n != "random"]


@pytest.mark.parametrize("name", CROSSING)
def test_crossover_swaps_genes_between_two_parents(name):
    algorithm = ALGORITHMS.create(name, space=SPACE, pop_size=8, n_obj=2, crossover=1.0)
    X = np.random.default_rng(0).integers(0, 5, size=(8, 6))
    problem = ArchitectureProblem(SPACE, parse_objectives("error,macs"))
    off = algorithm.mating.crossover.do(problem, Population.new(X=X), parents=np.arange(8).reshape(4, 2),
                                        random_state=np.random.default_rng(0))
    children, pairs = off.get("X").reshape(2, 4, 6), X.reshape(4, 2, 6)  # pymoo: first children, then second ones
    for child in children:
        assert np.all((child == pairs[:, 0]) | (child == pairs[:, 1]))  # every gene one parent's at its position
    assert not np.array_equal(children[0], pairs[:, 0])  # some genes did cross
    assert ALGORITHMS.create(name, space=SPACE, pop_size=8, n_obj=2).mating.crossover.prob.value == 0.0  # off by default


@pytest.mark.parametrize("name", CROSSING)
@pytest.mark.parametrize("probability", [-0.1, 1.5])
def test_a_crossover_that_is_no_probability_is_rejected(name, probability):
    with pytest.raises(ValueError, match="crossover must be a probability"):
        ALGORITHMS.create(name, space=SPACE, pop_size=8, n_obj=2, crossover=probability)
