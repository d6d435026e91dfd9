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

Last line: ``n=<cells scored> kendall=<t> spearman=<r> kendall_within_macs=<t> sec_per_arch=<s>``.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from scipy.stats import kendalltau, spearmanr

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.estimator_correlation import DEFAULT_DATA, TRUTH, Scorer, kendall_within_quintiles, sample_archs  # noqa: E402
from benchmarks.search_quality import macs_of_every_network  # noqa: E402
from monas.accuracy_table import DEFAULT_NB201_TABLE, load_table  # noqa: E402
from monas.search.config import SearchConfig  # noqa: E402

N_CELLS = 15_625


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--save", required=True, help="JSON file of the estimates (resumed when it exists)")
    p.add_argument("--estimator", default=SearchConfig.estimator, help="default: monas's default estimator")
    p.add_argument("--n", type=int, default=N_CELLS, help="score only the first N cells of the permutation")
    p.add_argument("--data-dir", default=str(DEFAULT_DATA))
    p.add_argument("--device", default="cpu")
    args = p.parse_args()
    table = load_table(str(DEFAULT_NB201_TABLE))
    archs = sample_archs(N_CELLS, 0, table)[: args.n]
    truth = np.array([table.value(a, TRUTH) for a in archs])
    scorer = Scorer("nb201", {}, args.data_dir, args.device, 0, args.save)
    macs = macs_of_every_network(scorer.space, scorer.images.spec, archs)
    macs = np.array([macs[a] for a in archs])
    scorer.resume(archs, {"space": "nb201", "truth": truth.tolist(), "macs": macs.tolist()})
    estimates, seconds = scorer.score(args.estimator, {})
    score = -estimates
    print(f"n={len(score)} kendall={kendalltau(score, truth)[0]:.4f} spearman={spearmanr(score, truth)[0]:.4f} "
          f"kendall_within_macs={kendall_within_quintiles(score, truth, macs):.4f} sec_per_arch={seconds:.4f}")


if __name__ == "__main__":
    main()
