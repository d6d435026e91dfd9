"""Does the evolutionary search beat random search in a space too big to know? NSGA-II
(``--algorithm``) and random search in the DARTS space (about 10^18 genomes), error
estimated by an estimator (monas's default) on CIFAR-10 images, MACs counted by thop,
at equal budgets and several seeds.

There is no ground truth, so each method's front is scored in its own objectives:
the hypervolume (reference point 1.1) of the front of what it evaluated, on the scale
where the ideal point of every network evaluated by any run (of every save file
reported together) is 0 and the nadir point of their joint front is 1. The run of a
smaller budget is the prefix of the run of the largest. A one-sided Mann-Whitney test
per budget asks whether the search's hypervolumes exceed random search's.

    OMP_NUM_THREADS=1 python benchmarks/darts_search.py --seeds 0,1,2 --save darts_search_a.json
    OMP_NUM_THREADS=1 python benchmarks/darts_search.py --seeds 3,4 --save darts_search_b.json
    python benchmarks/darts_search.py --report darts_search_a.json darts_search_b.json

``--crossover P`` runs the search with pymoo's uniform crossover at probability P
before the point mutation (default: the DARTS space's rate, monas's default search);
a crossing variant's runs are kept under their own name (``nsga2+ux0.9``; ``nsga2``
for 0), so several variants can share one save file and its random runs. ``--save`` records every run's evaluated networks in order
(arch, estimated error, MACs) after each run; run again with the same file, it skips
the runs it holds. Ends with one line per budget and search variant:
``budget=<n> <variant>=<hv> random=<hv> p=<p>``.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.estimator_correlation import DEFAULT_DATA, resolved_options  # noqa: E402
from benchmarks.search_quality import Scorer, one_sided_p, search_order  # noqa: E402
from monas.complexity import count_complexity  # noqa: E402
from monas.estimators import ESTIMATORS  # noqa: E402
from monas.io import atomic_write  # noqa: E402
from monas.registry import ALGORITHMS  # noqa: E402
from monas.search.config import SearchConfig  # noqa: E402
from monas.search.front import non_dominated  # noqa: E402
from search_spaces import SPACES  # noqa: E402
from monas.search.indicators import ReferenceFront  # noqa: E402

SETTINGS = ("algorithm", "pop_size", "estimator", "budgets")
NEAR_BEST = 0.1
"""An ensemble estimate below this beats about 95 % of the reference networks on every
member (-log 0.95 = 0.05 per unit of weight); the floor, beating all of them, is about 0.01."""
TOP = 50


class MacsCounter(dict):
    """MACs of DARTS networks by thop, counted on first lookup."""

    def __init__(self, scorer: Scorer) -> None:
        super().__init__()
        self.scorer = scorer

    def __missing__(self, arch: str) -> float:
        self[arch] = count_complexity(self.scorer.space.build(arch, self.scorer.spec), self.scorer.spec)[0]
        return self[arch]


def run(args) -> None:
    """Every (method, seed) run the save file lacks, saved after each."""
    path = Path(args.save)
    doc = json.loads(path.read_text()) if path.exists() else {"settings": settings_of(args), "runs": {}}
    if doc["settings"] != settings_of(args):
        raise SystemExit(f"{path} was made with {doc['settings']}, not {settings_of(args)}")
    scorer = Scorer(args.estimator, {}, args.data_dir, args.device, space="darts")
    macs = MacsCounter(scorer)
    for seed in args.seeds:
        for algorithm, options in ((args.algorithm, {"crossover": args.crossover}), ("random", {})):
            key = f"{variant_name(algorithm, **options)}/{seed}"
            if key in doc["runs"]:
                continue
            start = time.perf_counter()
            order = search_order(algorithm, args.pop_size, scorer, macs, max(args.budgets), seed, **options)
            doc["runs"][key] = [[a, scorer(a), macs[a]] for a in order]
            atomic_write(path, json.dumps(doc))
            print(f"{key}: {len(order)} networks in {time.perf_counter() - start:.0f}s", file=sys.stderr, flush=True)


def variant_name(algorithm: str, crossover: float = 0.0) -> str:
    """The name a search variant's runs are kept under: the algorithm's, with ``+ux<P>``
    when it crosses over."""
    return f"{algorithm}+ux{crossover:g}" if crossover else algorithm


def settings_of(args) -> dict:
    """What a save file's runs depend on: the flags of ``SETTINGS`` and the estimator's
    default options, so that runs of an estimator whose defaults changed (as the
    ensemble's members did) are not resumed under its new defaults."""
    return {**{k: getattr(args, k) for k in SETTINGS}, "estimator_defaults": resolved_options(args.estimator, {})}


def report(paths: list[str]) -> None:
    """Hypervolume tables over the runs of ``paths`` (made with the same settings)."""
    docs = [json.loads(Path(p).read_text()) for p in paths]
    settings = docs[0]["settings"]
    if any(d["settings"] != settings for d in docs):
        raise SystemExit("the save files were made with different settings")
    runs = {k: np.array([[e, m] for _, e, m in v]) for d in docs for k, v in d["runs"].items()}
    reference = ReferenceFront(np.concatenate(list(runs.values())))
    budgets = settings["budgets"]
    seeds = sorted({int(k.split("/")[1]) for k in runs})
    variants = sorted({k.split("/")[0] for k in runs} - {"random"})
    print(f"DARTS space, estimated error ({settings['estimator']}) vs MACs, seeds {seeds}, population "
          f"{settings['pop_size']}; hypervolume of the estimated front (ideal-nadir scale of all runs, reference 1.1)\n")
    print("| budget | method | hypervolume | one-sided Mann-Whitney p against random |\n|---|---|---|---|")
    lines = []
    for b in budgets:
        hv = {m: [front_hv(reference, runs[f"{m}/{s}"][:b]) for s in seeds if f"{m}/{s}" in runs] for m in variants + ["random"]}
        print(f"| {b} | random | {np.mean(hv['random']):.4f} +- {np.std(hv['random']):.4f} (n={len(hv['random'])}) | |")
        for m in variants:
            p = one_sided_p(hv[m], hv["random"])
            print(f"| {b} | {m} | {np.mean(hv[m]):.4f} +- {np.std(hv[m]):.4f} (n={len(hv[m])}) | {p:.3g} |")
            lines.append(f"budget={b} {m}={np.mean(hv[m]):.4f} random={np.mean(hv['random']):.4f} p={p:.3g}")
    print(f"\nthe networks each method evaluated (all seeds, {budgets[-1]} each): how many the estimator rates near its best, "
          f"and how many distinct estimates its {TOP} best-rated have (few: the estimate saturates there)\n")
    print(f"| method | share below {NEAR_BEST} | median estimate | distinct among the {TOP} best |\n|---|---|---|---|")
    for m in variants + ["random"]:
        E = np.concatenate([runs[f"{m}/{s}"][: budgets[-1], 0] for s in seeds if f"{m}/{s}" in runs])
        print(f"| {m} | {np.mean(E < NEAR_BEST):.3f} | {np.median(E):.3f} | {len(np.unique(np.sort(E)[:TOP]))} |")
    print("\n" + "\n".join(lines))


def front_hv(reference: ReferenceFront, F: np.ndarray) -> float:
    """Hypervolume of the front of ``F`` on ``reference``'s scale (as a fraction of the
    joint front's)."""
    return reference.hypervolume_ratio(F[non_dominated(F)])


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", default="0,1,2,3,4")
    p.add_argument("--budgets", default="100,200")
    p.add_argument("--algorithm", default=SearchConfig.algorithm, help=f"known: {', '.join(ALGORITHMS.names())}")
    p.add_argument("--crossover", type=float, default=SPACES.get("darts").crossover,
                   help="uniform crossover probability of the search (default: the DARTS space's, monas's default)")
    p.add_argument("--pop-size", type=int, default=SearchConfig.pop_size)
    p.add_argument("--estimator", default=SearchConfig.estimator, help="default: monas's default estimator")
    p.add_argument("--data-dir", default=str(DEFAULT_DATA))
    p.add_argument("--device", default="auto")
    p.add_argument("--save", help="the runs' file (resumed when it exists)")
    p.add_argument("--report", nargs="+", metavar="FILE", help="print the tables of these save files and stop")
    args = p.parse_args(argv)
    if args.report:
        return report(args.report)
    if not args.save:
        p.error("--save FILE is needed to run (or --report FILE ...)")
    if args.algorithm not in ALGORITHMS or args.algorithm == "random":
        p.error(f"--algorithm must be a search other than random (known: {', '.join(ALGORITHMS.names())})")
    if args.estimator not in ESTIMATORS:
        p.error(f"unknown estimator {args.estimator!r} (known: {', '.join(ESTIMATORS.names())})")
    if not 0.0 <= args.crossover <= 1.0:
        p.error(f"--crossover must be a probability in [0, 1], got {args.crossover}")
    args.seeds = [int(s) for s in args.seeds.split(",")]
    args.budgets = sorted(int(b) for b in args.budgets.split(","))
    run(args)
    report([args.save])


if __name__ == "__main__":
    main()
