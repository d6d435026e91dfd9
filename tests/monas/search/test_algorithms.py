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
