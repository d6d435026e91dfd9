"""Learning-curve early termination (PEng4NN) replayed over real learning curves.

``--generate`` trains a fixed random sample of NAS-Bench-201 networks (``--n-archs``,
sample ``--seed``; built by the nb201 space, shrunk with ``--channels`` and
``--cells-per-stage`` to fit a CPU) for ``--epochs`` epochs on a class-stratified subset
of the CIFAR-10 training split in ../shared/data, with the ``train`` estimator's recipe
and code (SGD + Nesterov, cosine schedule over all epochs), and measures the validation
accuracy every half epoch the way that estimator does (batch-norm recalibration, then
eval mode). The curves are written to ``--curves`` (JSON, rewritten after each
network). Without ``--generate`` the curves in ``--curves`` are reused.

The replay feeds each curve, point by point, to ``monas.train.curves.CurveStopper`` (fit
``a - b**(c - x)`` from the 3rd point on, converged when the last 3 predictions lie
within 0.5 points of their median) and stops at the first converged point (or, with
``--stop-below ACC``, once even the optimistic prediction is below ACC %). Reported:
the share of epochs saved (1 - epochs trained / epochs of full training, summed over
networks), top-k recall (how many of the true top-k by final accuracy are among the
top-k by the early-stopped prediction, or by the final accuracy for networks that
never converged), the Kendall tau between those and the true final accuracies, and
the mean true final accuracy of both top-k sets.

    python benchmarks/early_stop.py --generate --n-archs 30 --epochs 20   # then, replay only:
    python benchmarks/early_stop.py --curves benchmarks/results/nb201_curves.json --k 10

Ends with ``epochs_saved=<f> topk_recall=<f>``.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from scipy.stats import kendalltau

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.estimator_correlation import sample_archs
from monas.accuracy_table import DEFAULT_NB201_TABLE, load_table
from monas.train.curves import CurveStopper
from monas.data import load_dataset, scoring_data
from monas.device import resolve_device
from monas.estimators import ESTIMATORS
from monas.io import atomic_write
from search_spaces import SPACES

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "cifar10"
DEFAULT_CURVES = Path(__file__).resolve().parent / "results" / "nb201_curves.json"


def generate(args: argparse.Namespace) -> dict:
    """Train every sampled network for ``args.epochs`` epochs, recording the validation
    accuracy (%) every half epoch; the curves file is rewritten after each network."""
    torch.set_num_threads(args.threads)
    settings = {
        "space": "nb201", "channels": args.channels, "cells_per_stage": args.cells_per_stage,
        "dataset": "cifar10 train split", "n_train": args.n_train, "n_val": args.n_val, "epochs": args.epochs,
        "lr": args.lr, "batch_size": args.batch_size, "seed": args.seed, "threads": args.threads,
    }
    archs = sample_archs(args.n_archs, args.seed, load_table(args.table))
    space = SPACES.create("nb201", channels=args.channels, cells_per_stage=args.cells_per_stage)
    images = load_dataset("cifar10", args.data_dir, "train")
    device = resolve_device(args.device)
    estimator = ESTIMATORS.create("train", n_train=args.n_train, n_val=args.n_val, epochs=args.epochs, lr=args.lr,
                                  batch_size=args.batch_size, seed=args.seed)
    data = scoring_data(images, args.n_train, args.n_val, seed=args.seed).to(device)
    saved = {"settings": settings, "curves": []}
    start = time.perf_counter()
    for n, arch in enumerate(archs, 1):
        torch.manual_seed(args.seed)
        net = space.build(arch, images.spec).to(device)
        epochs, accuracies = [], []

        def measure(epoch: float, net: torch.nn.Module = net, epochs: list = epochs, accuracies: list = accuracies) -> bool:
            epochs.append(epoch)
            accuracies.append(100.0 - estimator.error(net, data))
            return False

        estimator.train(net, data, measure)
        saved["curves"].append({"arch": arch, "epochs": epochs, "accuracies": accuracies})
        saved["settings"]["seconds"] = round(time.perf_counter() - start, 1)
        atomic_write(args.curves, json.dumps(saved, indent=1))
        print(f"[{n}/{len(archs)}] {time.perf_counter() - start:.0f}s final accuracy {accuracies[-1]:.1f}% {arch}",
              file=sys.stderr, flush=True)
    return saved


def replay(curve: dict, final_epoch: float, stop_below: float = 0.0) -> tuple[float, float, float, float]:
    """(epochs trained, estimated final accuracy, accuracy measured where training
    stopped, true final accuracy) of one curve under PEng4NN; the estimate is the
    clipped prediction where it stopped early (converged, or given up below
    ``stop_below``), else the final accuracy."""
    stopper = CurveStopper(final_epoch, stop_below=stop_below)
    final = curve["accuracies"][-1]
    for epoch, accuracy in zip(curve["epochs"], curve["accuracies"]):
        if stopper.update(epoch, accuracy):
            return epoch, min(100.0, max(0.0, stopper.prediction)), accuracy, final
    return final_epoch, final, final, final


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--generate", action="store_true", help="train the networks and write new curves to --curves")
    p.add_argument("--curves", type=Path, default=DEFAULT_CURVES, help="learning-curve file (JSON) to write or reuse")
    p.add_argument("--k", type=int, default=10, help="size of the top-k sets compared")
    p.add_argument("--stop-below", type=float, default=0.0,
                   help="also give up on networks predicted below this accuracy (%%), as -E stop_below does (0: off)")
    p.add_argument("--n-archs", type=int, default=30)
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--n-train", type=int, default=500)
    p.add_argument("--n-val", type=int, default=500)
    p.add_argument("--channels", type=int, default=4, help="nb201 stem channels (16 in the benchmark)")
    p.add_argument("--cells-per-stage", type=int, default=1, help="nb201 cells per stage (5 in the benchmark)")
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--seed", type=int, default=0, help="seed of the sample, the subsets and the training")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (1: least contention on a shared CPU)")
    p.add_argument("--data-dir", default=str(DEFAULT_DATA))
    p.add_argument("--table", default=str(DEFAULT_NB201_TABLE))
    p.add_argument("--device", default="auto")
    args = p.parse_args()

    saved = generate(args) if args.generate else json.loads(args.curves.read_text())
    settings, curves = saved["settings"], saved["curves"]
    final_epoch = float(settings["epochs"])
    k = min(args.k, len(curves))
    replays = [replay(c, final_epoch, args.stop_below) for c in curves]
    trained, estimated, observed, true = (np.array(v) for v in zip(*replays))
    epochs_saved = 1.0 - trained.sum() / (final_epoch * len(curves))
    true_top = set(np.argsort(-true, kind="stable")[:k])
    predicted_top = set(np.argsort(-estimated, kind="stable")[:k])
    recall = len(true_top & predicted_top) / k
    observed_recall = len(true_top & set(np.argsort(-observed, kind="stable")[:k])) / k
    stopped = trained < final_epoch

    print(f"{len(curves)} NAS-Bench-201 networks, settings: {json.dumps(settings)}; k={k}, stop_below={args.stop_below:g}")
    print(f"stopped early: {stopped.sum()} of {len(curves)}; epochs trained: median {np.median(trained):.1f} of {final_epoch:g}")
    if stopped.any():
        gap = estimated[stopped] - true[stopped]
        print(f"prediction - true final accuracy (stopped networks): mean {gap.mean():+.2f}, mean |.| {np.abs(gap).mean():.2f} points")
    print(f"Kendall tau (estimate vs true final accuracy): {kendalltau(estimated, true)[0]:.3f}")
    print(f"without the curve (accuracy measured where training stopped): Kendall tau "
          f"{kendalltau(observed, true)[0]:.3f}, top-{k} recall {observed_recall:.2f}")
    print(f"mean true final accuracy: true top-{k} {true[list(true_top)].mean():.2f}%, "
          f"predicted top-{k} {true[list(predicted_top)].mean():.2f}%")
    print(f"epochs_saved={epochs_saved:.4f} topk_recall={recall:.4f}")


if __name__ == "__main__":
    main()
