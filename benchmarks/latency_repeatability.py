"""Is a measured latency repeatable? The same networks timed twice in one run.

For ``--n`` random networks of each search space (default settings, CIFAR-sized
32x32 input, 10 classes), every network is timed once with ``monas.latency`` (warm-up,
then the median of repeats), then all of them a second time in the same order, so that
the two measurements of a network are apart by the others' timings, as measurements
of a search are. Prints each network's two latencies and their ratio.

    python benchmarks/latency_repeatability.py [--n 3] [--device cpu] [--batch 1] [--seed 0]

Ends with ``networks=<n> max_deviation=<x> median_deviation=<x> within_10_percent=<k>/<n>``,
the deviation of a network being |second / first - 1|.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from monas.latency import measure_latency  # noqa: E402
from search_spaces import SPACES  # noqa: E402
from search_spaces.base import InputSpec  # noqa: E402

SPEC = InputSpec(channels=3, resolution=32, num_classes=10)


def main(argv: list[str] | None = None) -> None:
    """Time the networks twice and print the ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=3, help="random networks per space (default 3)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    rng = np.random.default_rng(args.seed)
    nets = []
    for name in ("darts", "nb201", "mobilenetv3"):
        space = SPACES.create(name)
        lower, upper = space.bounds
        for _ in range(args.n):
            arch = space.canonical(rng.integers(lower, upper + 1))
            nets.append((name, arch, space.build(arch, SPEC)))
    print(f"device {device}, batch {args.batch}, torch threads {torch.get_num_threads()}")
    first = [measure_latency(net, SPEC, device, args.batch) for _, _, net in nets]
    second = [measure_latency(net, SPEC, device, args.batch) for _, _, net in nets]
    deviations = []
    print("space        first_ms  second_ms  ratio  architecture")
    for (name, arch, _), a, b in zip(nets, first, second):
        deviations.append(abs(b / a - 1))
        print(f"{name:<12} {a:8.3f}  {b:9.3f}  {b / a:5.3f}  {arch[:60]}")
    within = sum(d < 0.1 for d in deviations)
    print(f"networks={len(nets)} max_deviation={max(deviations):.3f} median_deviation={float(np.median(deviations)):.3f} "
          f"within_10_percent={within}/{len(nets)}")


if __name__ == "__main__":
    main()
