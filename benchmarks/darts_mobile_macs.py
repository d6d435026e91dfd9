"""How to put the DARTS mobile setting (at most 600M MACs for the ImageNet network at
224x224) into a search, whose darts space builds the CIFAR form of the network.

The ImageNet network (48 channels, 14 cells, two stride-2 stems) meets its first cell
at 28x28. The CIFAR network with the same width and depth, fed 28x28 images, runs the
same cells on the same maps; the two differ only in the stems, the first two cells'
input projections and the classifier: parts that do not depend on the genotype. This
script measures the difference (ImageNet MACs minus CIFAR-form MACs) for random
genotypes, and, for comparison, the ratio of the ImageNet MACs to those of the default
search network (16 channels, 8 cells) at 32x32.

    python benchmarks/darts_mobile_macs.py [--n 20] [--classes 10]

Ends with ``difference_min=<M> difference_max=<M> proxy_ratio_min=<x> proxy_ratio_max=<x>``.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from monas.complexity import count_complexity  # noqa: E402
from search_spaces import SPACES  # noqa: E402
from search_spaces.base import InputSpec  # noqa: E402
from search_spaces.darts.genotypes import parse_genotype  # noqa: E402
from search_spaces.darts.model import NetworkImageNet  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    """Print each genotype's three MAC counts, then the summary line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20, help="random genotypes (default 20)")
    parser.add_argument("--classes", type=int, default=10, help="classes of the 28x28 search dataset (default 10)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    mobile = SPACES.create("darts", init_channels=48, layers=14)
    proxy = SPACES.create("darts")
    rng = np.random.default_rng(args.seed)
    lower, upper = mobile.bounds
    differences, ratios = [], []
    print("imagenet_224_M  cifar_form_28_M  difference_M  proxy_32_M")
    for _ in range(args.n):
        arch = mobile.to_string(rng.integers(lower, upper + 1))
        imagenet, _ = count_complexity(NetworkImageNet(parse_genotype(arch), 48, 14, 1000), InputSpec(3, 224, 1000))
        cifar_form, _ = count_complexity(mobile.build(arch, InputSpec(3, 28, args.classes)), InputSpec(3, 28, args.classes))
        search, _ = count_complexity(proxy.build(arch, InputSpec(3, 32, 10)), InputSpec(3, 32, 10))
        differences.append((imagenet - cifar_form) / 1e6)
        ratios.append(imagenet / search)
        print(f"{imagenet / 1e6:14.2f}  {cifar_form / 1e6:15.2f}  {differences[-1]:12.3f}  {search / 1e6:10.2f}")
    print(f"difference_min={min(differences):.3f} difference_max={max(differences):.3f} "
          f"proxy_ratio_min={min(ratios):.2f} proxy_ratio_max={max(ratios):.2f}")


if __name__ == "__main__":
    main()
