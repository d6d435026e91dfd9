"""How well each estimator ranks networks of a space against their trained accuracy.

NAS-Bench-201 (``--space nb201``): a fixed random sample of the 15,625 cells
(``--n-archs``, ``--seed``), ground truth the benchmark's ``cifar10_test_acc_200ep``.
DARTS (``--space darts``): the 356 trained DARTS-space networks of
../shared/data/darts/darts_cifar10_356.csv (``cifar10_val_acc``; ``--n-archs`` draws a
seeded subset), built with the monas DARTS space's defaults (16 channels, 8 cells).
Every estimator scores every network on the CIFAR-10 training split in ../shared/data.
Reported per estimator: Kendall tau and Spearman rho of (-estimate) against accuracy,
the mean Kendall tau within quintiles of MACs (the order among networks of similar
cost, which is what a Pareto search needs), and seconds per network, beside the
published figures.

    OMP_NUM_THREADS=1 python benchmarks/estimator_correlation.py --n-archs 1000 --seed 0 --estimators params,naswot,ensemble
    OMP_NUM_THREADS=1 python benchmarks/estimator_correlation.py --space darts --estimators params,ensemble

``--save FILE`` keeps every estimate; run again with the same file and it goes on where it
stopped (estimators and networks already scored are not recomputed). ``--merge FILE``
adds the estimates of another such file (same networks) to the table.
``--estimator-seed`` scores with another seed than the sample's (image and
initialisation sensitivity). ``--first N`` scores only the first N networks of the
sample (a prefix of a sample too slow to score whole). ``--truth`` ranks against another
column of the NAS-Bench-201 table (papers differ: several rank against
``cifar10_valid_acc_200ep``). Ends with one line per estimator:
``estimator=<name> kendall=<t> spearman=<r> kendall_within_macs=<t> sec_per_arch=<s>``.
"""
from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path

import numpy as np
from scipy.stats import kendalltau, spearmanr

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from monas.accuracy_table import DEFAULT_NB201_TABLE, TableError, load_table  # noqa: E402
from monas.cli.common import option_defaults, parse_options  # noqa: E402
from monas.complexity import count_complexity  # noqa: E402
from monas.data import load_dataset, scoring_data  # noqa: E402
from monas.estimators import ESTIMATORS  # noqa: E402
from monas.device import resolve_device  # noqa: E402
from monas.io import atomic_write  # noqa: E402
from search_spaces import SPACES  # noqa: E402

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "cifar10"
DEFAULT_DARTS_TABLE = Path(__file__).resolve().parents[2] / "shared" / "data" / "darts" / "darts_cifar10_356.csv"
TRUTH = "cifar10_test_acc_200ep"
DARTS_TRUTH = "cifar10_val_acc"
SAVE_EVERY = 25
# NAS-Bench-201 CIFAR-10, whole space, as collected in ../shared/docs/papers.md: single signals from VKDNW
# (CVPR 2025) Table 1 and ZiCo (ICLR 2023) Table 3, MeCo (NeurIPS 2023, Spearman only), AZ-NAS (CVPR 2024),
# VKDNW_agg (CVPR 2025). None: not published.
PUBLISHED = {
    "params": (0.57, 0.75), "macs": (0.62, 0.80), "synflow": (0.56, 0.76), "naswot": (0.57, 0.76), "zico": (0.61, 0.80),
    "jacov": (0.62, 0.80), "snip": (0.43, 0.59), "grad-norm": (0.33, 0.44), "meco": (None, 0.89), "az-nas": (0.741, 0.913),
}


def sample_archs(n: int, seed: int, table, exclude: set[str] = frozenset()) -> list[str]:
    """``n`` distinct architecture strings drawn with ``seed`` (fixed across estimators),
    none of them in ``exclude``."""
    archs = [a for a in table.archs() if a not in exclude]
    return [archs[i] for i in np.random.default_rng(seed).choice(len(archs), size=n, replace=False)]


def kendall_within_quintiles(score: np.ndarray, truth: np.ndarray, macs: np.ndarray) -> float:
    """Mean Kendall tau inside each fifth of the sample by MACs."""
    edges = np.quantile(macs, [0.2, 0.4, 0.6, 0.8])
    bins = np.digitize(macs, edges)
    taus = [kendalltau(score[bins == b], truth[bins == b])[0] for b in range(5) if (bins == b).sum() > 2]
    return float(np.nanmean(taus))


def darts_sample(n: int | None, seed: int, path: str) -> tuple[list[str], np.ndarray]:
    """(genotype strings, accuracies) of the trained DARTS networks in ``path``; a seeded
    subset of ``n`` when ``n`` is smaller than the table."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if n is not None and n < len(rows):
        rows = [rows[i] for i in sorted(np.random.default_rng(seed).choice(len(rows), size=n, replace=False))]
    return [r["genotype"] for r in rows], np.array([float(r[DARTS_TRUTH]) for r in rows])


def resolved_options(name: str, options: dict) -> dict:
    """Every option of estimator ``name`` as it will run: its defaults (``seed`` aside)
    updated by ``options``, in JSON's types (as a save file holds them)."""
    return json.loads(json.dumps({**option_defaults(ESTIMATORS.get(name), ("seed",)), **options}, default=str))


class Scorer:
    """Scores networks of one space with named estimators on CIFAR-10, keeping the
    estimates in a JSON file (when given) that a later run resumes from."""

    def __init__(self, space_name: str, space_options: dict, data_dir: str, device_name: str, seed: int, save: str | None) -> None:
        self.space = SPACES.create(space_name, **space_options)
        self.images = load_dataset("cifar10", data_dir)
        self.device = resolve_device(device_name)
        self.seed = seed
        self.save = Path(save) if save else None
        self.doc: dict = {"estimates": {}, "seconds": {}}

    def resume(self, archs: list[str], extra: dict) -> None:
        """Load the save file if it scored the same networks with the same seed."""
        self.doc.update(archs=archs, estimator_seed=self.seed, **extra)
        if self.save and self.save.exists():
            old = json.loads(self.save.read_text())
            if old.get("archs") != archs or old.get("estimator_seed") != self.seed:
                raise SystemExit(f"{self.save} holds other networks or another seed; use another --save file")
            self.doc["estimates"], self.doc["seconds"] = old["estimates"], old["seconds"]
            self.doc["estimator_options"] = old.get("estimator_options", {})

    def score(self, name: str, options: dict) -> tuple[np.ndarray, float]:
        """(estimates, seconds per network) of estimator ``name`` on every network."""
        archs = self.doc["archs"]
        done = self.doc["estimates"].setdefault(name, [])
        # Estimates are kept with the options they were made with, defaults included, so a
        # changed default is not resumed into them; files from before this record none.
        recorded, options_now = self.doc.setdefault("estimator_options", {}), resolved_options(name, options)
        if not done:
            recorded[name] = options_now
        elif recorded.get(name, options_now) != options_now:
            raise SystemExit(f"{self.save} holds {name} estimates made with {recorded[name]}, not {options_now}; "
                             "use another --save file")
        spent = self.doc["seconds"].get(name, 0.0) * len(done)
        if len(done) < len(archs):
            estimator = ESTIMATORS.create(name, seed=self.seed, **options)
            spec = self.images.spec
            data = scoring_data(self.images, estimator.n_train, estimator.n_val, seed=self.seed).to(self.device) if estimator.n_train else None
            start = time.perf_counter()
            estimator.prepare(self.space, spec, data, self.device)  # timed: calibration is part of the cost
            for arch in archs[len(done):]:
                done.append(estimator.estimate(arch, lambda: self.space.build(arch, spec), data, self.device))
                if len(done) % SAVE_EVERY == 0 or len(done) == len(archs):
                    self.doc["seconds"][name] = (spent + time.perf_counter() - start) / len(done)
                    self.flush()
        return np.array(done, dtype=float), self.doc["seconds"][name]

    def flush(self) -> None:
        if self.save:
            atomic_write(self.save, json.dumps(self.doc))


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--space", choices=("nb201", "darts"), default="nb201")
    p.add_argument("--n-archs", type=int, help="networks to sample (default: 1000 on nb201, all 356 on darts)")
    p.add_argument("--seed", type=int, default=0, help="seed of the sample and (unless --estimator-seed) of the estimators")
    p.add_argument("--estimator-seed", type=int, help="seed of the estimators' images and initialisations")
    p.add_argument("--exclude-seed", type=int, help="nb201: leave out the 1,000-network sample of this seed (a disjoint tuning sample)")
    p.add_argument("--first", type=int, help="score only the first N networks of the sample")
    p.add_argument("--truth", default=TRUTH, help=f"nb201: the table column to rank against (default {TRUTH})")
    p.add_argument("--estimators", default="params,macs,synflow,naswot,ensemble")
    p.add_argument("-E", "--estimator-option", action="append", default=[], metavar="NAME:KEY=VALUE",
                   help="option for one estimator, e.g. rwe:n_train=1000")
    p.add_argument("-S", "--space-option", action="append", default=[], metavar="KEY=VALUE", help="space option")
    p.add_argument("--data-dir", default=str(DEFAULT_DATA))
    p.add_argument("--table", help=f"ground truth (default: {DEFAULT_NB201_TABLE} or {DEFAULT_DARTS_TABLE})")
    p.add_argument("--device", default="auto")
    p.add_argument("--save", help="keep every estimate in this JSON file and resume from it")
    p.add_argument("--merge", action="append", default=[], help="another --save file of the same networks (or of a longer sample that starts "
                   "with them) to report too")
    p.add_argument("--agreement", help="a --save file of the same networks (or of a longer sample that starts with them) "
                   "scored with another --estimator-seed: print "
                   "each estimator's Spearman rho between the two (does the ranking hinge on the images and weights?)")
    args = p.parse_args(argv)
    if args.first is not None and args.first < 1:
        raise SystemExit(f"--first must be at least 1, got {args.first}")

    if args.space == "nb201":
        table = load_table(args.table or DEFAULT_NB201_TABLE)
        exclude = set(sample_archs(1000, args.exclude_seed, table)) if args.exclude_seed is not None else set()
        archs = sample_archs(args.n_archs or 1000, args.seed, table, exclude)[: args.first]
        try:
            truth = np.array([table.value(a, args.truth) for a in archs])
        except TableError as exc:
            raise SystemExit(str(exc)) from None
        title = f"NAS-Bench-201, {len(archs)} networks (sample seed {args.seed}" + (
            f", none of seed {args.exclude_seed}'s 1,000)" if exclude else ")") + f", truth {args.truth}"
    else:
        archs, truth = darts_sample(args.n_archs, args.seed, args.table or str(DEFAULT_DARTS_TABLE))
        archs, truth = archs[: args.first], truth[: args.first]
        title = f"DARTS space, {len(archs)} trained networks of {Path(args.table or DEFAULT_DARTS_TABLE).name}, truth {DARTS_TRUTH}"
    estimator_seed = args.seed if args.estimator_seed is None else args.estimator_seed
    space_options = parse_options(args.space_option, SPACES.get(args.space), "space")
    scorer = Scorer(args.space, space_options, args.data_dir, args.device, estimator_seed, args.save)
    spec = scorer.images.spec
    macs = np.array([count_complexity(scorer.space.build(a, spec), spec)[0] for a in archs], dtype=float)
    scorer.resume(archs, {"space": args.space, "truth": truth.tolist(), "macs": macs.tolist()})

    scored: dict[str, tuple[np.ndarray, float]] = {}
    for name in [n for n in args.estimators.split(",") if n]:
        pairs = [o.split(":", 1)[1] for o in args.estimator_option if o.split(":", 1)[0] == name]
        options = parse_options(pairs, ESTIMATORS.get(name), "estimator", reserved=("seed",))
        scored[name] = scorer.score(name, options)
        print(f"{name}: done, {scored[name][1]:.3f} s/network", file=sys.stderr)
    for path in args.merge:
        other = json.loads(Path(path).read_text())
        if other["archs"][: len(archs)] != archs:
            raise SystemExit(f"{path} scored other networks")
        for name, values in other["estimates"].items():
            if len(values) >= len(archs):  # a longer sample of which ours is the prefix (--first)
                scored.setdefault(name, (np.array(values[: len(archs)], dtype=float), other["seconds"][name]))

    results = []
    for name, (estimates, seconds) in scored.items():
        score = -estimates
        results.append((name, kendalltau(score, truth)[0], spearmanr(score, truth)[0], kendall_within_quintiles(score, truth, macs), seconds))
    print(f"{title}, estimator seed {estimator_seed}")
    print("| estimator | Kendall tau | Spearman rho | Kendall within MACs quintiles | s / network | published NB201 tau / rho |")
    print("|---|---|---|---|---|---|")
    for name, tau, rho, within, seconds in results:
        pub = PUBLISHED.get(name)
        published = " / ".join("-" if v is None else f"{v:.2f}" for v in pub) if pub else "-"
        print(f"| {name} | {tau:.3f} | {rho:.3f} | {within:.3f} | {seconds:.3f} | {published} |")
    if args.agreement:
        other = json.loads(Path(args.agreement).read_text())
        if other["archs"][: len(archs)] != archs:
            raise SystemExit(f"{args.agreement} scored other networks")
        for name, (estimates, _) in scored.items():
            if len(other["estimates"].get(name, [])) >= len(archs):
                rho = spearmanr(estimates, other["estimates"][name][: len(archs)])[0]
                print(f"agreement {name}: Spearman {rho:.4f} between estimator seeds {estimator_seed} and {other['estimator_seed']}")
    for name, tau, rho, within, seconds in results:
        print(f"estimator={name} kendall={tau:.4f} spearman={rho:.4f} kendall_within_macs={within:.4f} sec_per_arch={seconds:.4f}")


if __name__ == "__main__":
    main()
