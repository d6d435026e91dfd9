"""The search state as data: captured after any generation and restored into a fresh
algorithm (each registered one), the search continues exactly as without the
interruption; a crafted state is refused with one line."""
import copy
import json
import zlib

import pytest
from pymoo.termination.max_gen import MaximumGenerationTermination

import search_spaces
from monas.search.evaluation import Evaluation
from monas.io import RunDirError
from monas.registry import ALGORITHMS
from monas.search.objectives import parse_objectives
from monas.search.problem import ArchitectureProblem
from monas.search.driver import build_algorithm
from monas.search.state import capture, restore

SPACE = search_spaces.SPACES.create("darts", init_channels=4, layers=3)
OBJECTIVES = parse_objectives("error,macs")


def runner(jobs):
    """Made-up objectives from the architecture's checksum (no networks built)."""
    for genome, generation in jobs:
        arch = SPACE.canonical(genome)
        h = zlib.crc32(arch.encode()) % 1000
        yield Evaluation(arch=arch, genome=[int(g) for g in genome], objectives={"error": h / 10, "macs": float(h % 37),
                         "params": 1.0}, seconds=0.0, generation=generation)


def fresh(generations, bounds=None, name="nsga2"):
    algorithm = build_algorithm(SPACE, 6, name)
    problem = ArchitectureProblem(SPACE, OBJECTIVES, bounds)
    algorithm.setup(problem, termination=MaximumGenerationTermination(generations), seed=1)
    problem.attach(runner, lambda e: None, {})
    return algorithm


def rows(n):
    return [{"generation": k, "evaluations": 6 * k, "front_size": 2, "hypervolume": 0.5, "seconds": 0.1} for k in range(1, n + 1)]


def snapshots(algorithm, archives=None):
    """The state, as JSON text, after each remaining generation; with ``archives`` (a
    list), the networks evaluated by then are appended to it after each generation."""
    found = []
    while algorithm.has_next():
        algorithm.problem.generation = algorithm.n_iter or 1  # as the driver does
        algorithm.next()
        found.append(json.dumps(capture(algorithm, rows(algorithm.n_iter - 1)), sort_keys=True, allow_nan=False))
        if archives is not None:
            archives.append(dict(algorithm.problem.cache))
    return found


def resumed(state, algorithm, archive):
    """``restore`` as the driver resumes: the archive of evaluated networks back in the cache."""
    algorithm.problem.cache.update(archive)
    return restore(state, algorithm, "ckpt")


@pytest.fixture(scope="module")
def archives():
    """The problem's cache after each generation of the uninterrupted run (a resume reads it from archive.jsonl)."""
    return []


@pytest.fixture(scope="module")
def uninterrupted(archives):
    return snapshots(fresh(6), archives)


@pytest.mark.parametrize("stop", [1, 2, 5])
def test_a_restored_search_continues_exactly(uninterrupted, archives, stop):
    algorithm = fresh(6)
    assert resumed(json.loads(uninterrupted[stop - 1]), algorithm, archives[stop - 1]) == rows(stop)
    assert snapshots(algorithm) == uninterrupted[stop:]


@pytest.mark.parametrize("name", sorted(set(ALGORITHMS.names()) - {"nsga2"}))
def test_every_algorithm_continues_exactly_after_a_restore(name):
    evaluated = []
    whole = snapshots(fresh(4, name=name), evaluated)
    algorithm = fresh(4, name=name)
    resumed(json.loads(whole[1]), algorithm, evaluated[1])
    assert snapshots(algorithm) == whole[2:]


@pytest.mark.parametrize("name", sorted(ALGORITHMS.names()))
def test_every_algorithm_continues_exactly_after_a_restore_with_bounds(name):
    evaluated = []
    whole = snapshots(fresh(4, BOUND, name), evaluated)
    algorithm = fresh(4, BOUND, name)
    resumed(json.loads(whole[1]), algorithm, evaluated[1])
    assert snapshots(algorithm) == whole[2:]


def change(path, value):
    def apply(state):
        *parents, last = path
        target = state
        for key in parents:
            target = target[key]
        if value is DELETE:
            del target[last]
        else:
            target[last] = value

    return apply


DELETE = object()


@pytest.mark.parametrize(
    "edit, message",
    [
        (change(["format"], "monas-checkpoint-1"), "not a monas-search-state-1 search state"),
        (change(["n_gen"], "3"), "n_gen does not match"),
        (change(["n_gen"], True), "n_gen does not match"),
        (change(["n_eval"], -1), "bad n_eval"),
        (change(["force_termination"], 0), "bad force_termination"),
        (change(["generations", 0, "hypervolume"], "0.5"), "bad generation rows"),
        (change(["generations", 0, "generation"], 2), "bad generation rows"),
        (change(["population", "extra"], []), "bad population"),
        (change(["population", "X"], [[0] * 32] * 7), "wrong shape"),
        (change(["population", "X"], [[0] * 31] * 6), "wrong shape"),
        (change(["population", "X"], [[0.5] * 32] * 6), "X holds something other than numbers"),
        (change(["population", "X"], [[2**70] * 32] * 6), "X holds something other than numbers"),
        (change(["population", "X"], [[-1] * 32] * 6), "outside the space's bounds"),
        (change(["population", "X", 0], [0] * 31 + [[0]]), "population X is ragged"),
        (change(["population", "F"], [[1.0, 2.0]] * 5), "objectives have the wrong shape"),
        (change(["population", "F"], [["nan", 2.0]] * 6), "objectives have the wrong shape"),
        (change(["population", "F"], "F"), "a population column is not a list"),
        (change(["population", "rank"], [0] * 5), "differ in length"),
        (change(["population", "rank"], [-1] * 6), "bad rank values"),
        (change(["population", "crowding"], ["nan"] * 6), "bad crowding"),
        (change(["population", "crowding"], ["big"] * 6), "crowding holds something other than numbers"),
        (change(["population", "n_gen"], [9] * 6), "bad population generations"),
        (change(["rng"], {"bit_generator": "PCG64", "state": {"state": "1", "inc": 1}}), "bad random generator state"),
        (change(["rng"], None), "bad random generator state"),
        (change(["population"], DELETE), "bad population"),
    ],
)
def test_a_crafted_state_is_refused_with_one_line(uninterrupted, edit, message):
    state = json.loads(uninterrupted[1])
    edit(state)
    with pytest.raises(RunDirError) as caught:
        restore(copy.deepcopy(state), fresh(6), "run/checkpoint.json")
    text = str(caught.value)
    assert text.startswith("run/checkpoint.json is not a valid checkpoint: ") and message in text and "\n" not in text


BOUND = {"macs": 12}  # about a third of the made-up networks are within it


@pytest.fixture(scope="module")
def constrained():
    return snapshots(fresh(6, BOUND))


def test_a_constrained_state_holds_constraints_and_leaves_networks_beyond_the_bound_unranked(constrained):
    states = [json.loads(text)["population"] for text in constrained]
    assert all(len(p["G"]) == len(p["X"]) for p in states)
    outside = [(g, r, c) for p in states for g, r, c in zip(p["G"], p["rank"], p["crowding"]) if g[0] > 0]
    assert outside and all(r is None and c is None for _, r, c in outside)


@pytest.mark.parametrize("stop", [1, 3])
def test_a_restored_constrained_search_continues_exactly(constrained, stop):
    algorithm = fresh(6, BOUND)
    restore(json.loads(constrained[stop - 1]), algorithm, "ckpt")
    assert snapshots(algorithm) == constrained[stop:]


@pytest.mark.parametrize(
    "edit, message",
    [
        (change(["population", "G"], DELETE), "bad population"),
        (change(["population", "G"], [[0.5, 0.5]] * 6), "constraints have the wrong shape"),
        (change(["population", "rank"], [0] * 6), "rank values do not match its constraints"),
    ],
)
def test_a_crafted_constrained_state_is_refused(constrained, edit, message):
    state = json.loads(constrained[0])
    edit(state)
    with pytest.raises(RunDirError, match=message):
        restore(state, fresh(6, BOUND), "run/checkpoint.json")


@pytest.mark.parametrize(
    "edit, message",
    [
        (change(["survival"], {"ideal_point": [0.0, 0.0]}), "NSGA-III survival state needs"),
        (change(["survival", "extreme_points"], [[1.0, 2.0]]), "extreme_points has the wrong shape"),
        (change(["survival"], []), "bad survival state"),
        (change(["population", "niche"], [99] * 6), "bad niche values"),
    ],
)
def test_a_crafted_nsga3_state_is_refused_with_one_line(edit, message):
    state = json.loads(snapshots(fresh(3, name="nsga3"))[1])
    edit(state)
    with pytest.raises(RunDirError) as caught:
        restore(state, fresh(6, name="nsga3"), "ckpt")
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_a_finished_search_is_finished_after_restore_and_extends_like_a_longer_one(uninterrupted, archives):
    short = fresh(3)
    finished = snapshots(short)[-1]
    assert finished == uninterrupted[2]
    again = fresh(3)
    resumed(json.loads(finished), again, archives[2])
    assert not again.has_next()
    longer = fresh(6)
    resumed(json.loads(finished), longer, archives[2])
    assert snapshots(longer) == uninterrupted[3:]
