"""Choose the members of the ``ensemble`` estimator on a tuning sample, then report the
choice unchanged on another sample.

Reads ``--save`` files of ``benchmarks/estimator_correlation.py`` (the same networks
scored by many estimators); ``--tune`` may be repeated, one sample per space, so that a
choice must rank well in every space. Every subset of the candidate estimators (up to
``--max-members``, and within ``--max-seconds`` per network, summed over the members)
is scored as the ensemble scores networks: the sum of each member's log rank share
(AZ-NAS's aggregation; here ranked within the sample). The subset with the best
Kendall tau plus within-MACs-quintile Kendall tau, summed over the tuning samples, is chosen, then a weight
per member from WEIGHTS if that gains at least ``--min-gain`` on TUNE; REPORT files are
read only after the choice, so their figures are out of sample; ``--baseline`` scores
another member list (e.g. the current default) beside the choice on both. ``--guard``
(with ``--baseline``) chooses members and weights together, among those that rank no
tuning sample worse than the baseline does (Kendall tau), so that a gain in one space
cannot pay for a loss in another. The files of
one sample may be prefixes of it (``estimator_correlation.py --first``): the shortest
prefix is used. (The ``ensemble``
estimator ranks against a fixed reference sample of the space instead of the scored
sample: run it through estimator_correlation.py for its own figures.)

    python benchmarks/ensemble_select.py --tune T1.json [T2.json ...] [--tune D1.json ...] [--report R1.json ...]

Last line: ``members=<a,b:w,...> tune_kendall=<t> tune_within=<t> report_kendall=<t> report_spearman=<r> report_within=<t>``.
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
from monas.estimators.ensemble import parse_members  # noqa: E402

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
    must score the same networks or prefixes of one sample (``estimator_correlation.py
    --first``): then the shortest prefix is kept. Only estimators that scored every
    network of it are kept."""
    docs = [json.loads(Path(p).read_text()) for p in paths]
    archs = min((d["archs"] for d in docs), key=len)
    if any(d["archs"][: len(archs)] != archs for d in docs):
        raise SystemExit("the files scored different networks")
    n = len(archs)
    merged = {"truth": np.array(docs[0]["truth"][:n]), "macs": np.array(docs[0]["macs"][:n]), "estimates": {}, "seconds": {}}
    for doc in docs:
        for name, values in doc["estimates"].items():
            if len(values) >= n:
                merged["estimates"][name] = np.array(values[:n], dtype=float)
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


def criterion(samples: list[dict], members: tuple[str, ...], weights: tuple[float, ...] | None = None) -> list[tuple[float, float]]:
    """(Kendall, within-MACs Kendall) of the ensemble on each tuning sample."""
    return [tuple(np.array(metrics(ensemble_score(s, members, weights), s))[[0, 2]]) for s in samples]


def ranked_choices(tunes: list[dict], pool: list[str], max_members: int, max_seconds: float,
                   floor: list[float] | None = None) -> list[tuple]:
    """(criterion, per-sample (Kendall, within), members, weights) of every subset of
    ``pool`` (up to ``max_members``, within ``max_seconds``), best first: with equal
    weights, or, given ``floor`` (a Kendall per tuning sample), with every weighting
    from WEIGHTS whose Kendall reaches the floor on every sample."""
    ranked = []
    for size in range(1, max_members + 1):
        for members in itertools.combinations(pool, size):
            if cost(tunes[0], members) > max_seconds:
                continue
            for weights in itertools.product(WEIGHTS, repeat=size) if floor else [(1.0,) * size]:
                if floor and weights[0] != 1.0:
                    continue  # scaling every weight ranks alike: the first member's weight is 1
                per_sample = criterion(tunes, members, weights)
                if not floor or all(k >= f for (k, _), f in zip(per_sample, floor)):
                    ranked.append((sum(k + w for k, w in per_sample), per_sample, members, weights))
    return sorted(ranked, key=lambda r: -r[0])


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tune", nargs="+", action="append", required=True,
                   help="files of one tuning sample; repeat --tune for samples of other spaces")
    p.add_argument("--report", nargs="*", default=[])
    p.add_argument("--candidates", help="comma list (default: every estimator in all tuning samples)")
    p.add_argument("--max-members", type=int, default=6)
    p.add_argument("--max-seconds", type=float, default=float("inf"), help="members' seconds per network (first sample)")
    p.add_argument("--top", type=int, default=15, help="subsets to list")
    p.add_argument("--min-gain", type=float, default=0.01,
                   help="per-member weights from WEIGHTS replace equal weights only if they gain this much on TUNE")
    p.add_argument("--guard", action="store_true",
                   help="choose members and weights together among those whose Kendall on every tuning sample is at "
                        "least the baseline's")
    p.add_argument("--baseline", help="members as the ensemble estimator takes them (name[:weight],...), e.g. the "
                   "current default: scored beside the choice on TUNE and REPORT")
    args = p.parse_args(argv)
    try:
        baseline = tuple(map(tuple, parse_members(args.baseline))) if args.baseline else None
    except ValueError as exc:
        raise SystemExit(str(exc)) from None
    if args.guard and not baseline:
        raise SystemExit("--guard needs --baseline (the member list no tuning sample may rank worse than)")

    tunes = [load(files) for files in args.tune]
    common = set.intersection(*(set(t["estimates"]) for t in tunes))
    pool = args.candidates.split(",") if args.candidates else sorted(common - NOT_CANDIDATES)
    missing = [m for m in pool + list(baseline[0] if baseline else []) if m not in common]
    if missing:
        raise SystemExit(f"not in every tuning sample: {', '.join(missing)}")
    heads = [f"tune{i + 1 if i else ''}" for i in range(len(tunes))]
    print("tuning samples: " + "; ".join(f"{h} {len(t['truth'])} networks ({' '.join(f)})" for h, t, f in zip(heads, tunes, args.tune)))
    columns = " | ".join(f"{h} Kendall | {h} within" for h in heads)
    print(f"| member | {columns} | s / network |")
    print("|---|" + "---|---|" * len(tunes) + "---|")
    for m in pool:
        cells = " | ".join(f"{k:.3f} | {w:.3f}" for k, w in criterion(tunes, (m,)))
        print(f"| {m} | {cells} | {cost(tunes[0], (m,)):.3f} |")

    floor = [k for k, _ in criterion(tunes, *baseline)] if args.guard else None
    ranked = ranked_choices(tunes, pool, args.max_members, args.max_seconds, floor)
    if not ranked:
        raise SystemExit("no candidate ranks every tuning sample at least as well as the baseline")
    rule = "guarded by the baseline's Kendall on each sample, " if floor else ""
    print(f"\nbest subsets (of {len(ranked)}), {rule}by Kendall + within-MACs Kendall summed over the tuning samples:")
    print(f"| members | {columns} | s / network |")
    print("|---|" + "---|---|" * len(tunes) + "---|")
    for _, per_sample, members, weights in ranked[: args.top]:
        cells = " | ".join(f"{k:.3f} | {w:.3f}" for k, w in per_sample)
        name = "+".join(m if w == 1 else f"{m}:{w:g}" for m, w in zip(members, weights))
        print(f"| {name} | {cells} | {cost(tunes[0], members):.3f} |")
    best, per_sample, chosen, weights = ranked[0]
    if not floor:
        for candidate in itertools.product(WEIGHTS, repeat=len(chosen)):
            scored = criterion(tunes, chosen, candidate)
            if sum(k + w for k, w in scored) >= best + args.min_gain:
                best, per_sample, weights = sum(k + w for k, w in scored), scored, candidate
    print(f"weights chosen on the tuning samples: {', '.join(f'{m}={w:g}' for m, w in zip(chosen, weights))}")
    if baseline:
        cells = " | ".join(f"{k:.3f} | {w:.3f}" for k, w in criterion(tunes, *baseline))
        print(f"baseline {args.baseline}: {columns.replace(' | ', ' / ')} = {cells.replace(' | ', ' / ')}")
    spec = ",".join(m if w == 1 else f"{m}:{w:g}" for m, w in zip(chosen, weights))
    line = f"members={spec} " + " ".join(
        f"{h}_kendall={k:.4f} {h}_within={w:.4f}" for h, (k, w) in zip(heads, per_sample))
    if args.report:
        report = load(args.report)
        absent = [m for m in chosen + (baseline[0] if baseline else ()) if m not in report["estimates"]]
        if absent:
            raise SystemExit(f"not in the report files: {', '.join(absent)}")
        r_tau, r_rho, r_within = metrics(ensemble_score(report, chosen, weights), report)
        print(f"\nreport sample: {len(report['truth'])} networks, chosen subset scored unchanged")
        if baseline:
            b_tau, b_rho, b_within = metrics(ensemble_score(report, *baseline), report)
            print(f"baseline {args.baseline} on the report sample: kendall={b_tau:.4f} spearman={b_rho:.4f} within={b_within:.4f}")
        line += f" report_kendall={r_tau:.4f} report_spearman={r_rho:.4f} report_within={r_within:.4f}"
    print(line)


if __name__ == "__main__":
    main()
