"""Does the search find the true Pareto front? An evolutionary search (``--algorithm``,
NSGA-II by default) and random search, each driven by an estimator and by the true
accuracy, on NAS-Bench-201 (error vs MACs), at equal budgets.

A budget is a number of distinct networks evaluated. Each method returns the front of
what it evaluated by its own objectives (estimated error, MACs); that front is scored in
(true test error, MACs) against the true Pareto front of all 15,625 networks
(``monas.search.indicators``), on the scale where the true front's ideal point is 0 and
its nadir point 1: hypervolume ratio (reference point 1.1), IGD+, and the share of the
true front's networks among those returned. The old scale (error / 100, MACs / the
largest network's, reference point 1.1) is kept as a column. Every seed runs each
method once, to the largest budget: the run of a smaller budget is the prefix of that
run (same settings, same seed, so the same networks in the same order). A one-sided
Mann-Whitney test per budget asks whether the search's hypervolume ratios exceed random
search's with the same estimator.

    OMP_NUM_THREADS=1 python benchmarks/search_quality.py --seeds 10 \\
        --estimates benchmarks/results/signals/nb201_all_seed0_ensemble.json

``--estimates FILE`` reads the estimator's estimates from a ``--save`` file of
``benchmarks/estimator_correlation.py`` (same estimator, options and seed; three
networks are recomputed and compared first); networks it lacks are estimated here.
Ends with one line per budget (means over seeds; the first key is the algorithm's name):
``budget=<n> nsga2=<hv> random=<hv> oracle=<hv> random_oracle=<hv> igd_plus_nsga2=<x> igd_plus_random=<x> p=<p>``.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Mapping

import numpy as np
from scipy.stats import mannwhitneyu

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.estimator_correlation import DEFAULT_DATA, TRUTH, resolved_options  # noqa: E402
from monas.accuracy_table import DEFAULT_NB201_TABLE, load_table  # noqa: E402
from monas.cli.common import parse_options  # noqa: E402
from monas.complexity import count_complexity  # noqa: E402
from monas.data import load_dataset, scoring_data  # noqa: E402
from monas.device import resolve_device  # noqa: E402
from monas.estimators import ESTIMATORS  # noqa: E402
from monas.registry import ALGORITHMS  # noqa: E402
from monas.search.config import SearchConfig  # noqa: E402
from monas.search.evaluation import Evaluation  # noqa: E402
from monas.search.front import non_dominated, normalised_hypervolume  # noqa: E402
from monas.search.indicators import ReferenceFront, share_found  # noqa: E402
from monas.search.objectives import parse_objectives  # noqa: E402
from monas.search.problem import ArchitectureProblem  # noqa: E402
from monas.search.runners import SerialRunner  # noqa: E402
from search_spaces import SPACES  # noqa: E402
from search_spaces.nb201 import NB201_OPS  # noqa: E402

CHECKED_ESTIMATES = 3
METHODS = ("search", "random", "oracle", "random_oracle")
INDICATORS = ("hv", "igd_plus", "share", "old_hv")


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
    """Memoised estimates of one estimator (seed 0) for the networks of ``space`` (on
    CIFAR-10 images), optionally preloaded from an ``estimator_correlation.py --save`` file."""

    def __init__(self, name: str, options: dict, data_dir: str, device: str, seed: int = 0, space: str = "nb201") -> None:
        self.name, self.options, self.seed, self.space_name = name, options, seed, space
        self.estimator = ESTIMATORS.create(name, seed=seed, **options)
        self.space = SPACES.create(space)
        images = load_dataset("cifar10", data_dir)
        self.spec = images.spec
        self.device = resolve_device(device)
        est = self.estimator
        self.data = scoring_data(images, est.n_train, est.n_val, seed=seed).to(self.device) if est.n_train else None
        self.cache: dict[str, float] = {}
        self.computed = 0
        start = time.perf_counter()
        self.estimator.prepare(self.space, self.spec, self.data, self.device)
        self.seconds = time.perf_counter() - start

    def __call__(self, arch: str) -> float:
        if arch not in self.cache:
            start = time.perf_counter()
            self.cache[arch] = self.estimator.estimate(arch, lambda: self.space.build(arch, self.spec), self.data, self.device)
            self.seconds += time.perf_counter() - start
            self.computed += 1
        return self.cache[arch]

    def preload(self, path: str) -> int:
        """Take the estimates of ``path`` (an ``estimator_correlation.py --save`` file);
        SystemExit when it was made with another space, estimator or seed, or another
        value of an option given here, or when ``CHECKED_ESTIMATES`` of its networks,
        recomputed here, differ. Returns how many networks it held."""
        doc = json.loads(Path(path).read_text())
        values = doc.get("estimates", {}).get(self.name)
        recorded_options = doc.get("estimator_options", {}).get(self.name, {})
        if doc.get("space") != self.space_name or doc.get("estimator_seed") != self.seed or values is None:
            raise SystemExit(f"{path} holds no {self.space_name} estimates of {self.name} with estimator seed {self.seed}")
        # An option the file does not record is checked by the recomputed estimates below.
        options_now = resolved_options(self.name, self.options)
        for key in sorted(recorded_options.keys() & options_now.keys()):
            if recorded_options[key] != options_now[key]:
                raise SystemExit(f"{path} was made with {self.name} {key}={recorded_options[key]}, not {options_now[key]}")
        archs = doc["archs"][: len(values)]
        for i in np.linspace(0, len(archs) - 1, CHECKED_ESTIMATES).astype(int) if archs else []:
            again = self(archs[i])
            if not math.isclose(again, values[i], rel_tol=1e-6, abs_tol=1e-9):
                raise SystemExit(f"{path}: {archs[i]} was estimated {values[i]}, here {again}; not the same estimator")
        self.cache.update(zip(archs, values))
        return len(archs)


def search_order(algorithm: str, pop_size: int, scorer: Scorer, macs: Mapping[str, float], budget: int, seed: int,
                 **options) -> list[str]:
    """The first ``budget`` distinct networks ``algorithm`` (created with ``options``)
    evaluates, in order (error by ``scorer``, MACs looked up in ``macs``)."""
    space = scorer.space
    problem = ArchitectureProblem(space, parse_objectives("error,macs"))
    evaluated: list[str] = []

    def evaluate(genome: np.ndarray, generation: int) -> Evaluation:
        arch = space.canonical(genome)
        return Evaluation(arch, [int(g) for g in genome], {"error": scorer(arch), "macs": macs[arch], "params": 0.0}, 0.0, generation)

    problem.attach(SerialRunner(evaluate), lambda e: evaluated.append(e.arch), {})
    search = ALGORITHMS.create(algorithm, space=space, pop_size=pop_size, n_obj=2, **options)
    search.setup(problem, termination=("n_eval", 10**9), seed=seed)
    while len(evaluated) < budget and search.has_next():
        problem.generation += 1
        search.next()
    if len(evaluated) < budget:
        raise SystemExit(f"{algorithm} found no new network to evaluate after {len(evaluated)} (seed {seed})")
    return evaluated[:budget]


class Judge:
    """Scores the front a method returns against the true front of the whole space."""

    def __init__(self, truth: dict[str, float], macs: dict[str, float]) -> None:
        self.truth, self.macs = truth, macs
        archs = list(truth)
        F = self.true_objectives(archs)
        self.reference = ReferenceFront(F)
        self.members = [archs[i] for i in non_dominated(F)]
        self.old_scale = np.array([100.0, max(macs.values())])
        self.old_true_hv = normalised_hypervolume(self.reference.front, self.old_scale)

    def true_objectives(self, archs: list[str]) -> np.ndarray:
        """(true test error %, MACs) of ``archs``."""
        return np.array([[100.0 - self.truth[a], self.macs[a]] for a in archs]).reshape(-1, 2)

    def score(self, archs: list[str], scorer: Scorer) -> dict[str, float]:
        """Indicators of the front ``scorer`` sees among ``archs``."""
        seen = np.array([[scorer(a), self.macs[a]] for a in archs])
        front = [archs[i] for i in non_dominated(seen)]
        F = self.true_objectives(front)
        return {
            "hv": self.reference.hypervolume_ratio(F),
            "igd_plus": self.reference.igd_plus(F),
            "share": share_found(front, self.members),
            "old_hv": normalised_hypervolume(F, self.old_scale) / self.old_true_hv,
        }


def one_sided_p(better: list[float], worse: list[float]) -> float:
    """p of the one-sided Mann-Whitney U test that ``better`` tends to exceed ``worse``."""
    return float(mannwhitneyu(better, worse, alternative="greater").pvalue)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--budgets", default="100,300,1000")
    p.add_argument("--seeds", type=int, default=10)
    p.add_argument("--algorithm", default=SearchConfig.algorithm, help=f"known: {', '.join(ALGORITHMS.names())}")
    p.add_argument("--pop-size", type=int, default=SearchConfig.pop_size)
    p.add_argument("--crossover", type=float, default=SPACES.get("nb201").crossover,
                   help="uniform crossover probability of the search and oracle runs (default: NAS-Bench-201's, monas's default)")
    p.add_argument("--estimator", default=SearchConfig.estimator, help="default: monas's default estimator")
    p.add_argument("-E", "--estimator-option", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--estimates", help="an estimator_correlation.py --save file holding this estimator's estimates")
    p.add_argument("--data-dir", default=str(DEFAULT_DATA))
    p.add_argument("--table", default=str(DEFAULT_NB201_TABLE))
    p.add_argument("--device", default="auto")
    args = p.parse_args(argv)
    budgets = sorted(int(b) for b in args.budgets.split(","))
    if args.algorithm not in ALGORITHMS:
        p.error(f"unknown algorithm {args.algorithm!r} (known: {', '.join(ALGORITHMS.names())})")
    if not 0.0 <= args.crossover <= 1.0 or (args.crossover and args.algorithm == "random"):
        p.error(f"--crossover must be a probability in [0, 1] for a search other than random, got {args.crossover}")
    table = load_table(args.table)
    truth = {a: table.value(a, TRUTH) for a in table.archs()}
    options = parse_options(args.estimator_option, ESTIMATORS.get(args.estimator), "estimator", reserved=("seed",))
    scorer = Scorer(args.estimator, options, args.data_dir, args.device)
    if args.estimates:
        held = scorer.preload(args.estimates)
        print(f"{held} estimates read from {args.estimates}; {CHECKED_ESTIMATES} recomputed and equal", file=sys.stderr)
    oracle = Scorer("table", {"path": args.table}, args.data_dir, args.device)
    judge = Judge(truth, macs_of_every_network(scorer.space, scorer.spec, list(truth)))

    results = {b: {m: {k: [] for k in INDICATORS} for m in METHODS} for b in budgets}
    for seed in range(args.seeds):
        crossing = {"crossover": args.crossover} if args.crossover else {}
        for method, algorithm, by, options in (("search", args.algorithm, scorer, crossing), ("random", "random", scorer, {}),
                                               ("oracle", args.algorithm, oracle, crossing), ("random_oracle", "random", oracle, {})):
            order = search_order(algorithm, args.pop_size, by, judge.macs, budgets[-1], seed, **options)
            for b in budgets:
                for key, value in judge.score(order[:b], by).items():
                    results[b][method][key].append(value)
        print(f"seed {seed} done; {scorer.computed} networks estimated here in {scorer.seconds:.0f}s", file=sys.stderr)

    # With every network's estimate at hand, the best any search with this estimator can
    # return: the estimated front of the whole space.
    ceiling = {**judge.score(list(truth), scorer), "networks": len(truth)} if set(truth) <= set(scorer.cache) else None
    report(results, budgets, args, ceiling)


def report(results: dict, budgets: list[int], args, ceiling: dict | None) -> None:
    """The tables (mean +- std over seeds), the estimator's ceiling when known, and the
    result lines."""
    name, algo = args.estimator, args.algorithm
    labels = {"search": f"{algo} + {name}", "random": f"random + {name}", "oracle": f"{algo} + true accuracy",
              "random_oracle": "random + true accuracy"}
    titles = {"hv": "hypervolume ratio (ideal-nadir scale, reference 1.1)", "igd_plus": "IGD+ (ideal-nadir scale)",
              "share": "share of the true front's networks returned", "old_hv": "hypervolume fraction, old scale (error / 100, MACs / max)"}
    crossing = f", uniform crossover {args.crossover:g}" if args.crossover else ""
    print(f"NAS-Bench-201, error vs MACs, {args.seeds} seeds, population {args.pop_size}{crossing}; mean +- std")
    for key, title in titles.items():
        print(f"\n{title}\n\n| budget | " + " | ".join(labels[m] for m in METHODS) + " |")
        print("|---|" + "---|" * len(METHODS))
        for b in budgets:
            cells = [f"{np.mean(results[b][m][key]):.4f} +- {np.std(results[b][m][key]):.4f}" for m in METHODS]
            print(f"| {b} | " + " | ".join(cells) + " |")
    print(f"\none-sided Mann-Whitney p, hypervolume ratio of {algo} above random search's:")
    for b in budgets:
        r = results[b]
        print(f"budget {b}: with {name} p={one_sided_p(r['search']['hv'], r['random']['hv']):.2g}, "
              f"with the true accuracy p={one_sided_p(r['oracle']['hv'], r['random_oracle']['hv']):.2g}")
    if ceiling:
        print(f"\nceiling: the front of all {ceiling['networks']} networks by {name}: hv={ceiling['hv']:.4f} "
              f"igd_plus={ceiling['igd_plus']:.4f} share={ceiling['share']:.4f}")
    print()
    for b in budgets:
        r = {m: results[b][m] for m in METHODS}
        print(f"budget={b} {algo}={np.mean(r['search']['hv']):.4f} random={np.mean(r['random']['hv']):.4f} "
              f"oracle={np.mean(r['oracle']['hv']):.4f} random_oracle={np.mean(r['random_oracle']['hv']):.4f} "
              f"igd_plus_{algo}={np.mean(r['search']['igd_plus']):.4f} igd_plus_random={np.mean(r['random']['igd_plus']):.4f} "
              f"p={one_sided_p(r['search']['hv'], r['random']['hv']):.3g}")


if __name__ == "__main__":
    main()
