#!/usr/bin/env python
"""Score every one of the 15,625 NAS-Bench-201 cells with an estimator and report its
ranking over the whole space, not a sample.

The cells are taken in the order of ``estimator_correlation.py``'s seed-0 permutation
and saved every 25 networks in that script's ``--save`` format (run it again with the
same file to go on), so a stopped run leaves a uniform random sample. MACs come from
per-edge costs (``search_quality.macs_of_every_network``, checked against thop) rather
than a thop pass per network. The save file doubles as ``search_quality.py
--estimates``.

    OMP_NUM_THREADS=1 python benchmarks/nb201_full_space.py --save benchmarks/results/signals/nb201_all_seed0_ensemble.json

``--part I/N`` scores only every N-th cell of the permutation, from the I-th (0-based),
so N processes share the work; ``--join`` then writes their save files, given in any
order, as one save file of all the cells (``--save``, which must not exist yet) and
reports it:

    OMP_NUM_THREADS=1 python benchmarks/nb201_full_space.py --part 0/2 --save /tmp/p0.json &
    OMP_NUM_THREADS=1 python benchmarks/nb201_full_space.py --part 1/2 --save /tmp/p1.json
    python benchmarks/nb201_full_space.py --join /tmp/p0.json /tmp/p1.json --save all.json

Before it, ``top: best50_true=<mean true accuracy of the 50 best-rated cells>
best50_possible=<that of the truly best 50> kendall_in_true_top_tenth=<t>`` says how well
the estimator orders the top of the space, which a search's front is made of.
Last line: ``n=<cells scored> kendall=<t> spearman=<r> kendall_within_macs=<t> sec_per_arch=<s>``.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from scipy.stats import kendalltau, spearmanr

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.estimator_correlation import DEFAULT_DATA, TRUTH, Scorer, kendall_within_quintiles, sample_archs  # noqa: E402
from benchmarks.search_quality import macs_of_every_network  # noqa: E402
from monas.accuracy_table import DEFAULT_NB201_TABLE, load_table  # noqa: E402
from monas.cli.common import parse_options  # noqa: E402
from monas.estimators import ESTIMATORS  # noqa: E402
from monas.io import atomic_write  # noqa: E402
from monas.search.config import SearchConfig  # noqa: E402

N_CELLS = 15_625


def parse_part(text: str) -> tuple[int, int]:
    """(I, N) of ``I/N`` with 0 <= I < N; argparse's error otherwise."""
    index, _, count = text.partition("/")
    try:
        i, n = int(index), int(count)
    except ValueError:
        i, n = -1, 0
    if not 0 <= i < n:
        raise argparse.ArgumentTypeError(f"{text!r}: expected I/N with 0 <= I < N, e.g. 0/2")
    return i, n


def join_parts(paths: list[str], archs: list[str]) -> dict:
    """One save document of ``archs`` from the save files of ``--part`` runs that
    together scored exactly those networks with the same estimators and seed;
    SystemExit naming what does not fit otherwise."""
    docs = [json.loads(Path(path).read_text()) for path in paths]
    first = docs[0]
    names = set(first["estimates"])
    position: dict[str, tuple[dict, int]] = {}
    for path, doc in zip(paths, docs):
        if (doc.get("estimator_seed"), doc.get("estimator_options")) != (first.get("estimator_seed"), first.get("estimator_options")) \
                or set(doc["estimates"]) != names:
            raise SystemExit(f"{path} was scored with other estimators or another seed than {paths[0]}")
        if any(len(values) != len(doc["archs"]) for values in doc["estimates"].values()):
            raise SystemExit(f"{path} is not finished: run its --part again with the same --save")
        for k, arch in enumerate(doc["archs"]):
            if arch in position:
                raise SystemExit(f"{arch} is in two of the part files")
            position[arch] = (doc, k)
    if set(position) != set(archs):
        raise SystemExit(f"the part files hold {len(position)} cells, not the {len(archs)} of the permutation")
    joined = {key: first[key] for key in ("space", "estimator_seed")}
    joined["estimator_options"] = first.get("estimator_options", {})
    joined["archs"] = archs
    for key in ("truth", "macs"):
        joined[key] = [position[a][0][key][position[a][1]] for a in archs]
    joined["estimates"] = {name: [position[a][0]["estimates"][name][position[a][1]] for a in archs] for name in names}
    joined["seconds"] = {name: sum(d["seconds"][name] * len(d["archs"]) for d in docs) / len(archs) for name in names}
    return joined


TOP = 50


def report(estimates: np.ndarray, truth: np.ndarray, macs: np.ndarray, seconds: float) -> None:
    """The top of the ranking (what a search's front is made of), then the last line."""
    score = -estimates
    best = np.argsort(estimates, kind="stable")[:TOP]
    top_tenth = truth >= np.quantile(truth, 0.9)
    print(f"top: best{TOP}_true={truth[best].mean():.2f} best{TOP}_possible={np.sort(truth)[::-1][:TOP].mean():.2f} "
          f"kendall_in_true_top_tenth={kendalltau(score[top_tenth], truth[top_tenth])[0]:.4f}")
    print(f"n={len(score)} kendall={kendalltau(score, truth)[0]:.4f} spearman={spearmanr(score, truth)[0]:.4f} "
          f"kendall_within_macs={kendall_within_quintiles(score, truth, macs):.4f} sec_per_arch={seconds:.4f}")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--save", required=True, help="JSON file of the estimates (resumed when it exists)")
    p.add_argument("--estimator", default=SearchConfig.estimator, help="default: monas's default estimator")
    p.add_argument("-E", "--estimator-option", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--n", type=int, default=N_CELLS, help="score only the first N cells of the permutation")
    p.add_argument("--part", type=parse_part, help="I/N: score only every N-th of those cells, from the I-th")
    p.add_argument("--join", nargs="+", metavar="PART", help="write these --part save files as one --save file")
    p.add_argument("--data-dir", default=str(DEFAULT_DATA))
    p.add_argument("--device", default="cpu")
    args = p.parse_args(argv)
    options = parse_options(args.estimator_option, ESTIMATORS.get(args.estimator), "estimator", reserved=("seed",))
    table = load_table(str(DEFAULT_NB201_TABLE))
    archs = sample_archs(N_CELLS, 0, table)[: args.n]
    if args.join:
        if Path(args.save).exists():
            raise SystemExit(f"{args.save} exists; --join writes a new file")
        doc = join_parts(args.join, archs)
        atomic_write(Path(args.save), json.dumps(doc))
        report(np.array(doc["estimates"][args.estimator]), np.array(doc["truth"]), np.array(doc["macs"]),
               doc["seconds"][args.estimator])
        return
    if args.part:
        archs = archs[args.part[0]:: args.part[1]]
    truth = np.array([table.value(a, TRUTH) for a in archs])
    scorer = Scorer("nb201", {}, args.data_dir, args.device, 0, args.save)
    macs = macs_of_every_network(scorer.space, scorer.images.spec, archs)
    macs = np.array([macs[a] for a in archs])
    scorer.resume(archs, {"space": "nb201", "truth": truth.tolist(), "macs": macs.tolist()})
    estimates, seconds = scorer.score(args.estimator, options)
    report(estimates, truth, macs, seconds)


if __name__ == "__main__":
    main()
