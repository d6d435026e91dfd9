"""Cost of random-weight evaluation against its floor, and search throughput.

For several random DARTS genomes on CIFAR-10 (../shared/data/cifar10 by default):
the seconds of one RWE (build, initialise, features, head fit), the seconds of one
no-grad forward pass of the same network over the same images (same batch size,
memory layout and batch-norm mode: the floor RWE approaches), and their ratio. Then a real search of the
default configuration for one generation gives networks evaluated per minute.

    python benchmarks/rwe_cost.py [--genomes 6] [--repeats 3] [--device auto]

Ends with ``rwe_over_forward=<ratio> evals_per_min=<n>``.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from monas.data import load_dataset, scoring_data  # noqa: E402
from monas.estimators import ESTIMATORS  # noqa: E402
from monas.device import resolve_device  # noqa: E402
from monas.search.driver import SearchConfig, run  # noqa: E402
from search_spaces import SPACES  # noqa: E402

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "cifar10"


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@torch.inference_mode()
def forward_pass(net: torch.nn.Module, images: torch.Tensor, batch_size: int) -> torch.Tensor:
    """The network's plain forward pass (logits) over ``images`` in batches."""
    return torch.cat([net(images[i : i + batch_size].contiguous(memory_format=torch.channels_last)) for i in range(0, len(images), batch_size)])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-dir", default=str(DEFAULT_DATA))
    p.add_argument("--genomes", type=int, default=6, help="random DARTS genomes timed")
    p.add_argument("--repeats", type=int, default=3, help="timings per genome (median kept)")
    p.add_argument("--search-pop", type=int, default=SearchConfig(out="").pop_size, help="population of the throughput run")
    p.add_argument("--device", default="auto")
    p.add_argument("-S", "--space-option", action="append", default=[], help="darts option KEY=INT, as in run_nsga")
    p.add_argument("-E", "--estimator-option", action="append", default=[], help="rwe option KEY=INT, as in run_nsga")
    args = p.parse_args()
    space_options = {k: int(v) for k, v in (o.split("=") for o in args.space_option)}
    estimator_options = {k: int(v) for k, v in (o.split("=") for o in args.estimator_option)}

    device = resolve_device(args.device)
    space = SPACES.create("darts", **space_options)
    rwe = ESTIMATORS.create("rwe", **estimator_options)
    images = load_dataset("cifar10", args.data_dir)
    data = scoring_data(images, rwe.n_train, rwe.n_val, seed=0).to(device)
    spec = images.spec
    all_images = torch.cat([data.train_x, data.val_x])
    print(f"device={device} threads={torch.get_num_threads()} images={len(all_images)} space_options={space_options or 'default'}")
    print(f"{'genome':>6} {'rwe_s':>8} {'forward_s':>10} {'ratio':>6}")

    rng = np.random.default_rng(0)
    lower, upper = space.bounds
    ratios = []
    for g in range(args.genomes):
        arch = space.to_string(rng.integers(lower, upper + 1))
        build = lambda: space.build(arch, spec)  # noqa: E731
        net = build().to(device, memory_format=torch.channels_last).train(rwe.bn == "batch").requires_grad_(False)
        rwe.estimate(arch, build, data, device)  # warm-up: allocator, kernels
        rwe_times, forward_times = [], []
        for _ in range(args.repeats):
            sync(device)
            start = time.perf_counter()
            rwe.estimate(arch, build, data, device)
            sync(device)
            rwe_times.append(time.perf_counter() - start)
            start = time.perf_counter()
            forward_pass(net, all_images, rwe.batch_size)
            sync(device)
            forward_times.append(time.perf_counter() - start)
        r, f = statistics.median(rwe_times), statistics.median(forward_times)
        ratios.append(r / f)
        print(f"{g:>6} {r:>8.3f} {f:>10.3f} {r / f:>6.2f}")
    ratio = statistics.median(ratios)

    with tempfile.TemporaryDirectory() as out:
        config = SearchConfig(out=out, dataset="cifar10", data_dir=args.data_dir, pop_size=args.search_pop, estimator="rwe",
                              generations=1, device=args.device, space_options=space_options, estimator_options=estimator_options)
        start = time.perf_counter()
        result = run(config, log=lambda line: None, progress=False)
        elapsed = time.perf_counter() - start
    per_min = 60.0 * len(result.evaluations) / elapsed
    print(f"search: {len(result.evaluations)} networks in {elapsed:.1f}s (setup included)")
    print(f"rwe_over_forward={ratio:.3f} evals_per_min={per_min:.1f}")


if __name__ == "__main__":
    main()
