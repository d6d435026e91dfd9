"""Cost of one evaluation inside a local Dask worker against the main process.

Wall-clock on a shared machine is noisy; the minor page faults and the CPU seconds of
the thread that runs an evaluation are not. The same DARTS network is evaluated twice
(the first run warms up) in this process and in a worker of the local cluster that
``--workers 2`` starts (``monas.runners.make_runner``), which is where Dask's worker
environment used to make every evaluation 2-3x dearer (see docs/benchmarks.md).

    python benchmarks/worker_overhead.py [-S init_channels=8 -S layers=5]

Ends with ``worker_over_main_cpu=<x> worker_over_main_faults=<y>``.
"""
from __future__ import annotations

import argparse
import functools
import resource
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.parallel_speedup import DEFAULT_DATA  # noqa: E402
from monas.cli import parse_options  # noqa: E402
from monas.data import load_dataset, scoring_data  # noqa: E402
from monas.estimators import ESTIMATORS  # noqa: E402
from monas.evaluation import Evaluation, Evaluator  # noqa: E402
from monas.runners import make_runner  # noqa: E402
from search_spaces import SPACES  # noqa: E402


def measured(evaluate: Evaluator, genome: np.ndarray, generation: int) -> Evaluation:
    """``evaluate``'s Evaluation with the running thread's minor page faults and CPU
    seconds added as objectives ``faults`` and ``cpu``."""
    before, cpu = resource.getrusage(resource.RUSAGE_THREAD).ru_minflt, time.thread_time()
    evaluation = evaluate(genome, generation)
    evaluation.objectives["faults"] = resource.getrusage(resource.RUSAGE_THREAD).ru_minflt - before
    evaluation.objectives["cpu"] = time.thread_time() - cpu
    return evaluation


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-dir", default=str(DEFAULT_DATA))
    p.add_argument("-S", "--space-option", action="append", metavar="KEY=VALUE", help="darts option (init_channels=8 layers=5)")
    args = p.parse_args()
    options = args.space_option or ["init_channels=8", "layers=5"]
    space = SPACES.create("darts", **parse_options(options, SPACES.get("darts"), "space"))
    images = load_dataset("cifar10", args.data_dir)
    estimator = ESTIMATORS.create("rwe", seed=0)
    data = scoring_data(images, estimator.n_train, estimator.n_val, seed=0)
    evaluate = Evaluator(space, images.spec, estimator, data, torch.device("cpu"))
    genome = np.random.default_rng(0).integers(space.bounds[0], space.bounds[1] + 1)
    figures = {}
    for where, workers in (("main", 1), ("worker", 2)):
        runner = make_runner(functools.partial(measured, evaluate), workers=workers)
        try:
            list(runner([(genome, 0)]))  # warm-up: allocator, kernels
            (evaluation,) = list(runner([(genome, 0)]))
        finally:
            runner.close()
        figures[where] = evaluation.objectives
        print(f"{where}: {evaluation.objectives['faults']:.0f} minor page faults, {evaluation.objectives['cpu']:.2f} CPU s, "
              f"{evaluation.seconds:.2f} s wall")
    cpu = figures["worker"]["cpu"] / figures["main"]["cpu"]
    faults = figures["worker"]["faults"] / figures["main"]["faults"]
    print(f"worker_over_main_cpu={cpu:.3f} worker_over_main_faults={faults:.3f}")


if __name__ == "__main__":
    main()
