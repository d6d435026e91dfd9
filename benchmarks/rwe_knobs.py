"""How RWE's knobs trade repeatability for cost, on random DARTS networks and CIFAR-10.

A cheap estimator ranks networks by their architecture only if the ranking survives a
change of the random initialisation. For each knob setting this measures the mean
Kendall tau between the rankings given by independent initialisations (n_inits = 1:
pairs of single seeds; n_inits = 2: disjoint pairs of seeds averaged), the mean error,
and the seconds per network. Ground-truth ranking quality is measured separately, on
NAS-Bench-201 (benchmarks/estimator_correlation.py).

    python benchmarks/rwe_knobs.py [--genomes 16] [--device auto]
"""
from __future__ import annotations

import argparse
import itertools
import sys
import time
from pathlib import Path

import numpy as np
import torch
from scipy.stats import kendalltau

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from monas.data import load_dataset, scoring_data  # noqa: E402
from monas.estimators import ESTIMATORS  # noqa: E402
from monas.estimators.heads import HEADS, head_error  # noqa: E402
from monas.search import resolve_device  # noqa: E402
from search_spaces import SPACES  # noqa: E402

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "cifar10"
N_TRAIN = (500, 1000, 2000, 4000)
N_VAL = 1000
SEEDS = 4


def balanced_prefix(labels: torch.Tensor, n: int) -> torch.Tensor:
    """Indices of the first n // classes images of each class."""
    classes = int(labels.max()) + 1
    return torch.cat([torch.nonzero(labels == c).flatten()[: n // classes] for c in range(classes)])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-dir", default=str(DEFAULT_DATA))
    p.add_argument("--genomes", type=int, default=16)
    p.add_argument("--device", default="auto")
    args = p.parse_args()
    device = resolve_device(args.device)
    space = SPACES.create("darts")
    images = load_dataset("cifar10", args.data_dir)
    data = scoring_data(images, max(N_TRAIN), N_VAL, seed=0).to(device)
    rwe = ESTIMATORS.create("rwe")
    rng = np.random.default_rng(0)
    lower, upper = space.bounds
    archs = [space.to_string(rng.integers(lower, upper + 1)) for _ in range(args.genomes)]

    # errors[(n, head)][seed][genome]; feature seconds per image per genome
    errors = {(n, h): np.zeros((SEEDS, len(archs))) for n in N_TRAIN for h in HEADS}
    head_seconds = {(n, h): 0.0 for n in N_TRAIN for h in HEADS}
    forward_seconds = 0.0
    for g, arch in enumerate(archs):
        for seed in range(SEEDS):
            torch.manual_seed(seed)
            net = space.build(arch, images.spec).to(device, memory_format=torch.channels_last).train().requires_grad_(False)
            start = time.perf_counter()
            train_f, val_f = rwe.features(net, data.train_x), rwe.features(net, data.val_x)
            if device.type == "cuda":
                torch.cuda.synchronize()
            forward_seconds += time.perf_counter() - start
            for n, h in errors:
                idx = balanced_prefix(data.train_y, n)
                start = time.perf_counter()
                errors[(n, h)][seed, g] = head_error(h, train_f[idx], data.train_y[idx], val_f, data.val_y, rwe.alpha)
                head_seconds[(n, h)] += time.perf_counter() - start
        print(f"genome {g + 1}/{len(archs)} done", file=sys.stderr)

    images_per_second = len(archs) * SEEDS * (max(N_TRAIN) + N_VAL) / forward_seconds
    print(f"device={device} genomes={len(archs)} seeds={SEEDS} n_val={N_VAL} forward={images_per_second:.0f} images/s")
    print("| n_train | head | n_inits | seed-to-seed Kendall tau | mean error % | s / network |")
    print("|---|---|---|---|---|---|")
    for (n, h), e in errors.items():
        for inits in (1, 2):
            if inits == 1:
                taus = [kendalltau(e[a], e[b])[0] for a, b in itertools.combinations(range(SEEDS), 2)]
            else:
                taus = [kendalltau(e[[0, 1]].mean(0), e[[2, 3]].mean(0))[0], kendalltau(e[[0, 2]].mean(0), e[[1, 3]].mean(0))[0]]
            seconds = inits * ((n + N_VAL) / images_per_second + head_seconds[(n, h)] / (len(archs) * SEEDS))
            print(f"| {n} | {h} | {inits} | {np.mean(taus):.3f} | {e.mean():.1f} | {seconds:.2f} |")


if __name__ == "__main__":
    main()
