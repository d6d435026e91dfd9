"""Does the search find the true Pareto front? NSGA-II driven by an estimator, by the
true accuracy (oracle) and random search, on NAS-Bench-201, at equal budgets.

A budget is a number of distinct networks evaluated. Each method returns the front of
what it evaluated by its own objectives (estimated error, MACs); that front is scored
by its hypervolume in (true test error, MACs) - error / 100 and MACs / the largest
network's, reference point 1.1 - as a fraction of the hypervolume of the true Pareto
front of all 15,625 networks. Random search evaluates a uniform sample with the same
estimator. Estimates are computed once per network and reused across seeds and budgets.

    python benchmarks/search_quality.py --budgets 100,300,1000 --seeds 3

Ends with one line per budget: ``budget=<n> nsga2_<estimator>=<f> random=<f> oracle=<f>``
(means over seeds).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.estimator_correlation import DEFAULT_DATA, TRUTH  # noqa: E402
from monas.accuracy_table import DEFAULT_NB201_TABLE, load_table  # noqa: E402
from monas.cli.common import parse_options  # noqa: E402
from monas.complexity import count_complexity  # noqa: E402
from monas.search.config import SearchConfig  # noqa: E402
from monas.data import load_dataset, scoring_data  # noqa: E402
from monas.device import resolve_device  # noqa: E402
from monas.estimators import ESTIMATORS  # noqa: E402
from monas.search.evaluation import Evaluation  # noqa: E402
from monas.search.front import non_dominated, normalised_hypervolume  # noqa: E402
from monas.search.objectives import parse_objectives  # noqa: E402
from monas.search.problem import ArchitectureProblem  # noqa: E402
from monas.search.runners import SerialRunner  # noqa: E402
from monas.search.driver import build_algorithm  # noqa: E402
from search_spaces import SPACES  # noqa: E402
from search_spaces.nb201 import NB201_OPS  # noqa: E402

POP_SIZE = 20


def macs_of_every_network(space, spec, archs: list[str]) -> dict[str, float]:
    """MACs of all networks from per-operation costs: an edge's MACs do not depend on the
    other edges, so MACs = MACs(all none) + sum of each edge's op cost (checked by thop
    on a few networks)."""
    genome = lambda op: np.full(6, NB201_OPS.index(op))  # noqa: E731
    base = count_complexity(space.build(space.to_string(genome("none")), spec), spec)[0]
    per_edge = {op: (count_complexity(space.build(space.to_string(genome(op)), spec), spec)[0] - base) / 6 for op in NB201_OPS}
    macs = {a: base + sum(per_edge[op] for op in ops_of(a)) for a in archs}
    for a in archs[:: len(archs) // 5]:
        assert abs(count_complexity(space.build(a, spec), spec)[0] - macs[a]) < 1e-6 * macs[a], a
    return macs


def ops_of(arch: str) -> list[str]:
    """The six edge operations of an arch string."""
    return [edge.split("~")[0] for node in arch.split("+") for edge in node.strip("|").split("|")]


class Scorer:
    """Memoised estimates of one estimator for NB201 networks."""

    def __init__(self, name: str, options: dict, seed: int, data_dir: str, device: str) -> None:
        self.estimator = ESTIMATORS.create(name, seed=seed, **options)
        self.space = SPACES.create("nb201")
        images = load_dataset("cifar10", data_dir)
        self.spec = images.spec
        self.device = resolve_device(device)
        est = self.estimator
        self.data = scoring_data(images, est.n_train, est.n_val, seed=seed).to(self.device) if est.n_train else None
        self.cache: dict[str, float] = {}
        start = time.perf_counter()
        self.estimator.prepare(self.space, self.spec, self.data, self.device)
        self.seconds = time.perf_counter() - start

    def __call__(self, arch: str) -> float:
        if arch not in self.cache:
            start = time.perf_counter()
            self.cache[arch] = self.estimator.estimate(arch, lambda: self.space.build(arch, self.spec), self.data, self.device)
            self.seconds += time.perf_counter() - start
        return self.cache[arch]


def nsga2(scorer: Scorer, macs: dict[str, float], budget: int, seed: int) -> list[str]:
    """Architectures NSGA-II evaluates until ``budget`` distinct ones (a generation is
    cut short at the budget)."""
    space = scorer.space
    problem = ArchitectureProblem(space, parse_objectives("error,macs"))
    evaluated: list[str] = []

    def evaluate(genome: np.ndarray, generation: int) -> Evaluation:
        arch = space.canonical(genome)
        error = scorer(arch) if len(evaluated) < budget else float("inf")  # past the budget: never chosen
        return Evaluation(arch, [int(g) for g in genome], {"error": error, "macs": macs[arch], "params": 0.0}, 0.0, generation)

    problem.attach(SerialRunner(evaluate), lambda e: evaluated.append(e.arch), {})
    algorithm = build_algorithm(space, POP_SIZE)
    algorithm.setup(problem, termination=("n_eval", 10**9), seed=seed)
    while len(evaluated) < budget:
        algorithm.next()
    return evaluated[:budget]


def front_fraction(archs: list[str], scorer: Scorer, truth: dict[str, float], macs: dict[str, float], scale, true_hv: float) -> float:
    """HV in (true error, MACs) of the front ``scorer`` sees among ``archs``, over ``true_hv``."""
    seen = np.array([[scorer(a), macs[a]] for a in archs])
    front = [archs[i] for i in non_dominated(seen)]
    F = np.array([[100 - truth[a], macs[a]] for a in front])
    return normalised_hypervolume(F, scale) / true_hv


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--budgets", default="100,300,1000")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--estimator", default=SearchConfig.estimator, help="default: monas's default estimator")
    p.add_argument("-E", "--estimator-option", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--data-dir", default=str(DEFAULT_DATA))
    p.add_argument("--table", default=str(DEFAULT_NB201_TABLE))
    p.add_argument("--device", default="auto")
    args = p.parse_args()
    budgets = [int(b) for b in args.budgets.split(",")]
    table = load_table(args.table)
    archs = table.archs()
    truth = {a: table.value(a, TRUTH) for a in archs}
    options = parse_options(args.estimator_option, ESTIMATORS.get(args.estimator), "estimator", reserved=("seed",))
    scorer = Scorer(args.estimator, options, 0, args.data_dir, args.device)
    oracle = Scorer("table", {"path": args.table}, 0, args.data_dir, args.device)
    macs = macs_of_every_network(scorer.space, scorer.spec, archs)
    scale = np.array([100.0, max(macs.values())])
    true_front = np.array([[100 - truth[a], macs[a]] for a in archs])
    true_hv = normalised_hypervolume(true_front[non_dominated(true_front)], scale)

    results = {b: {"nsga2": [], "random": [], "oracle": []} for b in budgets}
    for seed in range(args.seeds):
        rng = np.random.default_rng(seed)
        for budget in budgets:
            picked = [archs[i] for i in rng.choice(len(archs), size=budget, replace=False)]
            results[budget]["random"].append(front_fraction(picked, scorer, truth, macs, scale, true_hv))
            results[budget]["nsga2"].append(front_fraction(nsga2(scorer, macs, budget, seed), scorer, truth, macs, scale, true_hv))
            results[budget]["oracle"].append(front_fraction(nsga2(oracle, macs, budget, seed), oracle, truth, macs, scale, true_hv))
        print(f"seed {seed} done; {len(scorer.cache)} networks estimated in {scorer.seconds:.0f}s", file=sys.stderr)

    name = args.estimator
    print(f"NAS-Bench-201, fraction of the true front's hypervolume (true error, MACs), mean over {args.seeds} seeds")
    print(f"| budget | NSGA-II + {name} | random search + {name} | NSGA-II + true accuracy (oracle) |")
    print("|---|---|---|---|")
    for b in budgets:
        r = results[b]
        print(f"| {b} | " + " | ".join(f"{np.mean(r[k]):.4f} +- {np.std(r[k]):.4f}" for k in ("nsga2", "random", "oracle")) + " |")
    for b in budgets:
        r = results[b]
        print(f"budget={b} nsga2_{name}={np.mean(r['nsga2']):.4f} random={np.mean(r['random']):.4f} oracle={np.mean(r['oracle']):.4f}")


if __name__ == "__main__":
    main()
