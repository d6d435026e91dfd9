"""Cost of one evaluation inside a local Dask worker against the main process.

Wall-clock on a shared machine is noisy; the minor page faults and the CPU seconds of
the process that runs an evaluation are much less so. The same DARTS network is
evaluated ``--repeats`` times (after one warm-up run) in this process and in a worker
of the local cluster that
``--workers 2`` starts (``monas.search.runners.make_runner``), which is where Dask's worker
environment used to make every evaluation 2-3x dearer (see docs/benchmarks.md).

    python benchmarks/worker_overhead.py [-S init_channels=8 -S layers=5] [--without-fix]

Ends with ``worker_over_main_cpu=<x> worker_faults=<n> main_faults=<n>``.
"""
from __future__ import annotations

import argparse
import functools
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.parallel_speedup import DEFAULT_DATA  # noqa: E402
from monas.cli.common import parse_options  # noqa: E402
from monas.data import load_dataset, scoring_data  # noqa: E402
from monas.estimators import ESTIMATORS  # noqa: E402
from monas.search.evaluation import Evaluation, Evaluator  # noqa: E402
from monas.search.runners import WORKER_ENVIRON, make_runner  # noqa: E402
from search_spaces import SPACES  # noqa: E402


def measured(evaluate: Evaluator, genome: np.ndarray, generation: int) -> Evaluation:
    """``evaluate``'s Evaluation with the minor page faults and CPU seconds of the running
    process (torch's threads included) added as objectives ``faults`` and ``cpu``."""
    before, cpu = resource.getrusage(resource.RUSAGE_SELF).ru_minflt, time.process_time()
    evaluation = evaluate(genome, generation)
    evaluation.objectives["faults"] = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
    evaluation.objectives["cpu"] = time.process_time() - cpu
    return evaluation


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-dir", default=str(DEFAULT_DATA))
    p.add_argument("--without-fix", action="store_true", help="start workers without monas.search.runners.WORKER_ENVIRON, "
                   "as Dask alone would, to show what it fixes")
    p.add_argument("--repeats", type=int, default=3, help="measured evaluations in each place")
    p.add_argument("-S", "--space-option", action="append", metavar="KEY=VALUE", help="darts option (init_channels=8 layers=5)")
    args = p.parse_args()
    if args.without_fix:
        WORKER_ENVIRON.clear()
    options = args.space_option or ["init_channels=8", "layers=5"]
    space = SPACES.create("darts", **parse_options(options, SPACES.get("darts"), "space"))
    images = load_dataset("cifar10", args.data_dir)
    estimator = ESTIMATORS.create("rwe", seed=0)
    data = scoring_data(images, estimator.n_train, estimator.n_val, seed=0)
    evaluate = Evaluator(space, images.spec, estimator, data, torch.device("cpu"))
    genome = np.random.default_rng(0).integers(space.bounds[0], space.bounds[1] + 1)
    # Like for like: the main process gets the torch threads a worker of two gets.
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // 2))
    figures = {}
    for where, workers in (("main", 1), ("worker", 2)):
        runner = make_runner(functools.partial(measured, evaluate), workers=workers)
        try:
            list(runner([(genome, 0)]))  # warm-up: allocator, kernels
            # One at a time, so that runs do not overlap; the least of each figure, as
            # the one least disturbed by whatever else the machine does.
            runs = [next(iter(runner([(genome, 0)]))) for _ in range(args.repeats)]
        finally:
            runner.close()
        figures[where] = {key: min(run.objectives[key] for run in runs) for key in ("faults", "cpu")}
        print(f"{where}: {figures[where]['faults']:.0f} minor page faults, {figures[where]['cpu']:.2f} CPU s "
              f"(least of {args.repeats})")
    # Faults are reported as counts, not as a ratio: the main process's count swings from
    # tens to 10^5 between runs (its heap may already hold the memory), the broken
    # worker's is in the millions.
    cpu = figures["worker"]["cpu"] / figures["main"]["cpu"]
    print(f"worker_over_main_cpu={cpu:.3f} worker_faults={figures['worker']['faults']:.0f} "
          f"main_faults={figures['main']['faults']:.0f}")


if __name__ == "__main__":
    main()
