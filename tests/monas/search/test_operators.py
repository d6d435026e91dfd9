import numpy as np
from pymoo.core.population import Population
from pymoo.core.problem import Problem

from monas.search.operators import CanonicalDuplicateElimination, PointMutation, UniformCrossover
from search_spaces import SPACES

SPACE = SPACES.create("darts")
LOWER, UPPER = SPACE.bounds
PROBLEM = Problem(n_var=SPACE.n_var, n_obj=2, xl=LOWER, xu=UPPER, vtype=int)


def random_genomes(n, seed=0):
    return np.random.default_rng(seed).integers(LOWER, UPPER + 1, size=(n, SPACE.n_var))


def test_crossover_children_take_each_gene_from_a_parent():
    parents = random_genomes(2, seed=3)[None]  # (n_parents=1 mating, ...) -> reshape below
    X = np.stack([parents[0][:1], parents[0][1:]])  # (2 parents, 1 mating, n_var)
    children = UniformCrossover()._do(PROBLEM, X, random_state=np.random.default_rng(0))
    for child in children[:, 0]:
        assert ((child == X[0, 0]) | (child == X[1, 0])).all()


def test_duplicates_are_judged_by_the_network_not_the_genome():
    genome = random_genomes(1)[0]
    swapped = genome.reshape(-1, 2, 2)[:, ::-1].reshape(-1)  # same network, other gene order
    assert not (swapped == genome).all()
    other = random_genomes(1, seed=9)[0]
    pop = Population.new(X=np.array([genome, swapped, other]))
    kept = CanonicalDuplicateElimination(SPACE.canonical).do(pop)
    assert len(kept) == 2
    against = CanonicalDuplicateElimination(SPACE.canonical).do(Population.new(X=np.array([other])), pop)
    assert len(against) == 0


def test_point_mutation_changes_exactly_the_asked_number_of_genes():
    X = random_genomes(300)
    for genes in (1, 3):
        Y = PointMutation(genes)._do(PROBLEM, X, random_state=np.random.default_rng(genes))
        assert ((Y >= LOWER) & (Y <= UPPER)).all() and ((Y != X).sum(axis=1) == genes).all()
    # every gene is chosen sometimes, and every allowed value of a wide gene is reachable
    Y = PointMutation()._do(PROBLEM, np.repeat(X[:1], 2000, axis=0), random_state=np.random.default_rng(0))
    assert ((Y != X[:1]).any(axis=0) == (UPPER > LOWER)).all() and set(Y[:, 0]) == set(range(UPPER[0] + 1))


def test_point_mutation_leaves_single_valued_genes_alone():
    problem = Problem(n_var=3, n_obj=2, xl=np.array([0, 2, 0]), xu=np.array([4, 2, 0]), vtype=int)
    Y = PointMutation(genes=2)._do(problem, np.array([[1, 2, 0]] * 50), random_state=np.random.default_rng(0))
    assert (Y[:, 1:] == [2, 0]).all() and (Y[:, 0] != 1).all()


def test_networks_in_the_archive_are_duplicates():
    genomes = random_genomes(3, seed=4)
    archive = {SPACE.canonical(genomes[0])}
    kept = CanonicalDuplicateElimination(SPACE.canonical, archive=lambda: archive).do(Population.new(X=genomes))
    assert [SPACE.canonical(x) for x in kept.get("X")] == [SPACE.canonical(g) for g in genomes[1:]]


def test_point_mutation_is_reproducible_from_the_random_state():
    X = random_genomes(50)
    a = PointMutation()._do(PROBLEM, X, random_state=np.random.default_rng(7))
    b = PointMutation()._do(PROBLEM, X, random_state=np.random.default_rng(7))
    c = PointMutation()._do(PROBLEM, X, random_state=np.random.default_rng(8))
    assert (a == b).all() and not (a == c).all()
