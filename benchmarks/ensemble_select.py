"""Choose the members of the ``ensemble`` estimator on a tuning sample, then report the
choice unchanged on another sample.

Reads ``--save`` files of ``benchmarks/estimator_correlation.py`` (the same networks
scored by many estimators). Every subset of the candidate estimators (up to
``--max-members``, and within ``--max-seconds`` per network, summed over the members)
is scored as the ensemble scores networks: the sum of each member's log rank share
(AZ-NAS's aggregation; here ranked within the sample). The subset with the best
Kendall tau plus within-MACs-quintile Kendall tau on TUNE is chosen, then a weight
per member from WEIGHTS if that gains at least ``--min-gain`` on TUNE; REPORT files are
read only after the choice, so their figures are out of sample. (The ``ensemble``
estimator ranks against a fixed reference sample of the space instead of the scored
sample: run it through estimator_correlation.py for its own figures.)

    python benchmarks/ensemble_select.py --tune T1.json [T2.json ...] [--report R1.json ...]

Last line: ``members=<a,b,...> weights=<w,...> tune_kendall=<t> tune_within=<t> report_kendall=<t> report_spearman=<r> report_within=<t>``.
"""
from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path

import numpy as np
from scipy.stats import kendalltau, rankdata, spearmanr

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.estimator_correlation import kendall_within_quintiles  # noqa: E402

NOT_CANDIDATES = {"ensemble", "table", "train"}
WEIGHTS = (0.5, 1.0, 2.0)
# Members computed in one pass and shared (az_nas.py's memo): a subset pays the pass once,
# at the largest seconds recorded for any of them (the first one scored paid it).
SHARED_PASS = ({"az-expressivity", "az-progressivity", "az-trainability"},)


def cost(sample: dict, members: tuple[str, ...]) -> float:
    """Seconds per network of an ensemble of ``members``."""
    total = sum(sample["seconds"][m] for m in members if not any(m in group for group in SHARED_PASS))
    for group in SHARED_PASS:
        shared = [m for m in members if m in group]
        if shared:
            total += max(sample["seconds"][m] for m in group if m in sample["seconds"])
    return total


def load(paths: list[str]) -> dict:
    """Merged estimates (lower is better), seconds, truth and MACs of ``paths``, which
    must score the same networks; only estimators that scored every network are kept."""
    docs = [json.loads(Path(p).read_text()) for p in paths]
    if any(d["archs"] != docs[0]["archs"] for d in docs):
        raise SystemExit("the files scored different networks")
    merged = {"truth": np.array(docs[0]["truth"]), "macs": np.array(docs[0]["macs"]), "estimates": {}, "seconds": {}}
    for doc in docs:
        for name, values in doc["estimates"].items():
            if len(values) == len(doc["archs"]):
                merged["estimates"][name] = np.array(values, dtype=float)
                merged["seconds"][name] = doc["seconds"][name]
    return merged


def ensemble_score(sample: dict, members: tuple[str, ...], weights: tuple[float, ...] | None = None) -> np.ndarray:
    """Higher is better: the (weighted) sum over ``members`` of log((rank - 0.5) / n),
    each member ranked so that its best network has rank n."""
    n = len(sample["truth"])
    weights = weights or (1.0,) * len(members)
    return sum(w * np.log((rankdata(-sample["estimates"][m]) - 0.5) / n) for m, w in zip(members, weights))


def metrics(score: np.ndarray, sample: dict) -> tuple[float, float, float]:
    """(Kendall, Spearman, Kendall within MACs quintiles) of ``score`` against the truth."""
    truth = sample["truth"]
    return kendalltau(score, truth)[0], spearmanr(score, truth)[0], kendall_within_quintiles(score, truth, sample["macs"])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tune", nargs="+", required=True)
    p.add_argument("--report", nargs="*", default=[])
    p.add_argument("--candidates", help="comma list (default: every estimator in the tuning files)")
    p.add_argument("--max-members", type=int, default=6)
    p.add_argument("--max-seconds", type=float, default=float("inf"), help="summed members' seconds per network")
    p.add_argument("--top", type=int, default=15, help="subsets to list")
    p.add_argument("--min-gain", type=float, default=0.01,
                   help="per-member weights from WEIGHTS replace equal weights only if they gain this much on TUNE")
    args = p.parse_args()

    tune = load(args.tune)
    pool = args.candidates.split(",") if args.candidates else sorted(set(tune["estimates"]) - NOT_CANDIDATES)
    missing = [m for m in pool if m not in tune["estimates"]]
    if missing:
        raise SystemExit(f"not in the tuning files: {', '.join(missing)}")
    print(f"tuning sample: {len(tune['truth'])} networks; candidates: {', '.join(pool)}")
    print("| member | tune Kendall | tune within | s / network |")
    print("|---|---|---|---|")
    for m in pool:
        tau, _, within = metrics(-tune["estimates"][m], tune)
        print(f"| {m} | {tau:.3f} | {within:.3f} | {cost(tune, (m,)):.3f} |")

    ranked = []
    for size in range(1, args.max_members + 1):
        for members in itertools.combinations(pool, size):
            if cost(tune, members) <= args.max_seconds:
                tau, _, within = metrics(ensemble_score(tune, members), tune)
                ranked.append((tau + within, tau, within, members))
    ranked.sort(key=lambda r: -r[0])
    print(f"\nbest subsets on the tuning sample (of {len(ranked)}), by Kendall + within-MACs Kendall:")
    print("| members | tune Kendall | tune within | s / network |")
    print("|---|---|---|---|")
    for _, tau, within, members in ranked[: args.top]:
        print(f"| {'+'.join(members)} | {tau:.3f} | {within:.3f} | {cost(tune, members):.3f} |")
    best, tau, within, chosen = ranked[0]
    weights = (1.0,) * len(chosen)
    for candidate in itertools.product(WEIGHTS, repeat=len(chosen)):
        t, _, w = metrics(ensemble_score(tune, chosen, candidate), tune)
        if t + w >= best + args.min_gain:
            best, tau, within, weights = t + w, t, w, candidate
    print(f"weights chosen on the tuning sample: {', '.join(f'{m}={w:g}' for m, w in zip(chosen, weights))}")
    line = f"members={','.join(chosen)} weights={','.join(f'{w:g}' for w in weights)} tune_kendall={tau:.4f} tune_within={within:.4f}"
    if args.report:
        report = load(args.report)
        absent = [m for m in chosen if m not in report["estimates"]]
        if absent:
            raise SystemExit(f"not in the report files: {', '.join(absent)}")
        r_tau, r_rho, r_within = metrics(ensemble_score(report, chosen, weights), report)
        print(f"\nreport sample: {len(report['truth'])} networks, chosen subset scored unchanged")
        line += f" report_kendall={r_tau:.4f} report_spearman={r_rho:.4f} report_within={r_within:.4f}"
    print(line)


if __name__ == "__main__":
    main()
