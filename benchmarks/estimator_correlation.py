"""How well each estimator ranks NAS-Bench-201 networks against their trained accuracy.

On a fixed random sample of the 15,625 NAS-Bench-201 cells (``--n-archs``, ``--seed``),
every estimator scores every network (RWE and the training-free scores use the
CIFAR-10 training split in ../shared/data; the ground truth is the benchmark's
``cifar10_test_acc_200ep``). Reported per estimator: Kendall tau and Spearman rho of
(-estimate) against accuracy, the mean Kendall tau within quintiles of MACs (the order
among networks of similar cost, which is what a Pareto search needs), and seconds per
network, beside the published figures in ../shared/data/README.md.

    python benchmarks/estimator_correlation.py --n-archs 1000 --seed 0 --estimators rwe,rwe-plain,params,synflow,naswot

Ends with one line per estimator:
``estimator=<name> kendall=<t> spearman=<r> kendall_within_macs=<t> sec_per_arch=<s>``.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from scipy.stats import kendalltau, spearmanr

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from monas.accuracy_table import DEFAULT_NB201_TABLE, load_table  # noqa: E402
from monas.cli import parse_options  # noqa: E402
from monas.complexity import count_complexity  # noqa: E402
from monas.data import load_dataset, scoring_data  # noqa: E402
from monas.estimators import ESTIMATORS  # noqa: E402
from monas.device import resolve_device  # noqa: E402
from search_spaces import SPACES  # noqa: E402

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "cifar10"
TRUTH = "cifar10_test_acc_200ep"
# ZiCo (ICLR 2023) Table 3 and AZ-NAS (CVPR 2024), over all 15,625 networks.
PUBLISHED = {"params": (0.57, 0.75), "macs": (0.54, 0.73), "synflow": (0.54, 0.73), "naswot": (0.58, 0.77), "zico": (0.61, 0.80), "jacov": (0.62, 0.80), "snip": (0.43, 0.59), "grad-norm": (0.33, 0.44), "az-nas": (0.741, None)}


def sample_archs(n: int, seed: int, table) -> list[str]:
    """``n`` distinct architecture strings drawn with ``seed`` (fixed across estimators)."""
    archs = table.archs()
    return [archs[i] for i in np.random.default_rng(seed).choice(len(archs), size=n, replace=False)]


def kendall_within_quintiles(score: np.ndarray, truth: np.ndarray, macs: np.ndarray) -> float:
    """Mean Kendall tau inside each fifth of the sample by MACs."""
    edges = np.quantile(macs, [0.2, 0.4, 0.6, 0.8])
    bins = np.digitize(macs, edges)
    taus = [kendalltau(score[bins == b], truth[bins == b])[0] for b in range(5) if (bins == b).sum() > 2]
    return float(np.nanmean(taus))


def score_archs(name: str, options: dict, archs: list[str], seed: int, data_dir: str, device_name: str, space_options: dict):
    """(estimates, seconds per network) of estimator ``name`` on ``archs``."""
    estimator = ESTIMATORS.create(name, seed=seed, **options)
    space = SPACES.create("nb201", **space_options)
    images = load_dataset("cifar10", data_dir)
    device = resolve_device(device_name)
    data = scoring_data(images, estimator.n_train, estimator.n_val, seed=seed).to(device) if estimator.n_train else None
    estimates = []
    start = time.perf_counter()
    estimator.prepare(space, images.spec, data, device)  # inside the timing: calibration is part of the cost
    for arch in archs:
        estimates.append(estimator.estimate(arch, lambda: space.build(arch, images.spec), data, device))
    return np.array(estimates, dtype=float), (time.perf_counter() - start) / len(archs)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n-archs", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0, help="seed of the sample and of the estimators")
    p.add_argument("--estimators", default="rwe,rwe-plain,params,macs,synflow,naswot,ensemble")
    p.add_argument("-E", "--estimator-option", action="append", default=[], metavar="NAME:KEY=VALUE",
                   help="option for one estimator, e.g. rwe:n_train=1000")
    p.add_argument("-S", "--space-option", action="append", default=[], metavar="KEY=VALUE", help="nb201 space option")
    p.add_argument("--data-dir", default=str(DEFAULT_DATA))
    p.add_argument("--table", default=str(DEFAULT_NB201_TABLE))
    p.add_argument("--device", default="auto")
    p.add_argument("--save", help="write every estimate as JSON here")
    args = p.parse_args()

    table = load_table(args.table)
    archs = sample_archs(args.n_archs, args.seed, table)
    truth = np.array([table.value(a, TRUTH) for a in archs])
    spec = load_dataset("cifar10", args.data_dir).spec
    full = SPACES.create("nb201")
    macs = np.array([count_complexity(full.build(a, spec), spec)[0] for a in archs], dtype=float)
    space_options = parse_options(args.space_option, SPACES.get("nb201"), "space")

    results, saved = [], {"archs": archs, "truth": truth.tolist()}
    for name in args.estimators.split(","):
        pairs = [o.split(":", 1)[1] for o in args.estimator_option if o.split(":", 1)[0] == name]
        options = parse_options(pairs, ESTIMATORS.get(name), "estimator", reserved=("seed",))
        estimates, seconds = score_archs(name, options, archs, args.seed, args.data_dir, args.device, space_options)
        saved[name] = estimates.tolist()
        score = -estimates
        results.append((name, kendalltau(score, truth)[0], spearmanr(score, truth)[0], kendall_within_quintiles(score, truth, macs), seconds))
        print(f"{name}: done in {seconds * len(archs):.0f}s", file=sys.stderr)
    if args.save:
        Path(args.save).write_text(json.dumps(saved))

    print(f"NAS-Bench-201, {len(archs)} networks (sample seed {args.seed}), truth {TRUTH}")
    print("| estimator | Kendall tau | Spearman rho | Kendall within MACs quintiles | s / network | published tau / rho (all 15,625) |")
    print("|---|---|---|---|---|---|")
    for name, tau, rho, within, seconds in results:
        pub = PUBLISHED.get(name)
        published = f"{pub[0]:.2f} / {pub[1]:.2f}" if pub else "-"
        print(f"| {name} | {tau:.3f} | {rho:.3f} | {within:.3f} | {seconds:.3f} | {published} |")
    for name, tau, rho, within, seconds in results:
        print(f"estimator={name} kendall={tau:.4f} spearman={rho:.4f} kendall_within_macs={within:.4f} sec_per_arch={seconds:.4f}")


if __name__ == "__main__":
    main()
