"""Ablation of random-weight evaluation on NAS-Bench-201: what makes it rank networks.

For a fixed random sample of NAS-Bench-201 cells (``--n-archs``, ``--seed``), each
network *variant* (initialisation, batch-norm handling, proxy depth, init seed, width) is
run once over ``max(N_TRAIN) + N_VAL`` CIFAR-10 training-split images (variants with
batch-norm in eval mode: only the images their heads read), keeping the pooled feature
maps at the end of every stage; linear heads are then fitted on several
*feature sets*, training-set sizes and ridge strengths. Cheap signals (params, MACs,
NASWOT, SynFlow) are recorded beside, for combinations analysed by
``benchmarks/rwe_ablation_report.py``. Everything measured per network goes to ``--save`` (the ground truth is not copied:
the report looks it up in the table).

    python benchmarks/rwe_ablation.py --n-archs 300 --seed 1 --save rwe_ablation_seed1.json

``--first N`` keeps only the first N networks of the sample (the recorded tuning sample is
the first 90 of ``--n-archs 300 --seed 1``). The file is written after every network; run
again with the same settings and ``--save``, it goes on after the networks it holds.
``--start S`` leaves out the first S networks, so that processes can share a sample
slice by slice (``rwe_ablation_report.py`` joins the files with ``+``).

The plain RWE of the paper is variant ``plain``, features ``final``, ridge. ``--sgd``
adds SGD-trained softmax heads on per-stage features of 2,000 images, without and with
augmentation (variant name suffixed ``+aug``; its seconds include the extra passes;
``--sgd-aug-copies 0`` leaves the augmented head out).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torchvision.transforms import v2

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.estimator_correlation import DEFAULT_DATA, sample_archs  # noqa: E402
from monas.accuracy_table import DEFAULT_NB201_TABLE, load_table  # noqa: E402
from monas.complexity import count_complexity  # noqa: E402
from monas.data import load_dataset, scoring_data  # noqa: E402
from monas.estimators import ESTIMATORS  # noqa: E402
from monas.estimators.heads import head_error, ridge_error, standardiser  # noqa: E402
from monas.device import resolve_device  # noqa: E402
from monas.io import atomic_write  # noqa: E402
from search_spaces import SPACES  # noqa: E402
from search_spaces.nb201 import InferCell  # noqa: E402

N_TRAIN = (500, 1000, 2000, 4000)
N_VAL = 1000
ALPHAS = (1e-3, 1e-1)
# name -> (cells_per_stage, initialisation, batch-norm mode, init seed, width multiplier)
VARIANTS = {
    "plain": (5, "default", "batch", 0, 1),
    "init=kaiming_fan_in": (5, "kaiming_fan_in", "batch", 0, 1),
    "init=kaiming_fan_out": (5, "kaiming_fan_out", "batch", 0, 1),
    "init=orthogonal": (5, "orthogonal", "batch", 0, 1),
    "bn=eval": (5, "default", "eval", 0, 1),
    "init=kaiming_fan_in+bn=eval": (5, "kaiming_fan_in", "eval", 0, 1),
    "init=lsuv+bn=eval": (5, "lsuv", "eval", 0, 1),
    "init=lsuv+bn=eval+cells=1": (1, "lsuv", "eval", 0, 1),
    "init=lsuv+bn=eval+seed=1": (5, "lsuv", "eval", 1, 1),
    "cells=1": (1, "default", "batch", 0, 1),
    "cells=2": (2, "default", "batch", 0, 1),
    "seed=1": (5, "default", "batch", 1, 1),
    "seed=2": (5, "default", "batch", 2, 1),
    "seed=3": (5, "default", "batch", 3, 1),
    # Widened probes: the same cell with 2x / 4x the channels (random-feature kernels
    # approach their infinite-width limit as width grows; Shankar et al. 2020).
    "bn=eval+width=2": (5, "default", "eval", 0, 2),
    "bn=eval+width=4": (5, "default", "eval", 0, 4),
}
# feature set -> [(stage, pooling)]; stages 1..3, pooling gap (global mean), p2 (2x2 mean), std (global std)
FEATURES = {
    "final": [(3, "gap")],
    "stages": [(1, "gap"), (2, "gap"), (3, "gap")],
    "final_2x2": [(3, "p2")],
    "stages_2x2": [(1, "p2"), (2, "p2"), (3, "p2")],
    "stages_gap_std": [(1, "gap"), (2, "gap"), (3, "gap"), (1, "std"), (2, "std"), (3, "std")],
}
BATCH = 250
# SGD heads (--sgd): softmax regression on standardised features, momentum 0.9, batches
# of 100, cosine learning rate from SGD_LR, weight decay SGD_WD; with augmentation each
# epoch reads one of SGD_AUG_COPIES feature sets of randomly cropped and flipped images.
SGD_EPOCHS, SGD_LR, SGD_WD, SGD_AUG_COPIES = 30, 0.1, 5e-4, 4
# Settings added after the first recorded files: those files were made with these values.
LATER_SETTINGS = {"start": 0, "sgd_aug_copies": SGD_AUG_COPIES}


def probe(name: str, arch: str, spec) -> nn.Module:
    """The network variant ``name`` reads features from, freshly built with the variant's
    seed (before ``initialise``): the cell ``arch`` in the benchmark's skeleton with the
    variant's cells per stage and ``16 * width`` channels in the first stage, batch-norm in
    train (batch statistics) or eval mode, no gradients."""
    cells, _, bn, seed, width = VARIANTS[name]
    space = SPACES.create("nb201", cells_per_stage=cells, channels=16 * width)
    torch.manual_seed(seed)
    return space.build(arch, spec).train(bn == "batch").requires_grad_(False)


def initialise(net: nn.Module, how: str, images: torch.Tensor) -> None:
    """Re-initialise convolution weights; ``lsuv`` (Mishkin & Matas 2016): orthogonal,
    then each convolution scaled to unit output variance in execution order (one
    pass, not the paper's iterations: exact for a chain, close for branching cells)."""
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
    for conv in convs:
        if how == "kaiming_fan_in":
            nn.init.kaiming_normal_(conv.weight, mode="fan_in", nonlinearity="relu")
        elif how == "kaiming_fan_out":
            nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")
        elif how in ("orthogonal", "lsuv"):
            nn.init.orthogonal_(conv.weight)
    if how != "lsuv":
        return

    # One forward pass: each convolution, when it runs, rescales its weight and its
    # output to unit variance, so every later layer sees calibrated inputs.
    def calibrate(conv: nn.Module, inputs, output: torch.Tensor) -> torch.Tensor:
        std = float(output.std())
        if not np.isfinite(std) or std == 0:
            return output
        conv.weight.data /= std
        return output / std

    handles = [conv.register_forward_hook(calibrate) for conv in convs]
    with torch.no_grad():
        net(images[:BATCH])
    for handle in handles:
        handle.remove()


def stage_outputs(net: nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
    """Feature maps at the end of stages 1, 2 and 3 (the last after batch-norm + ReLU)."""
    outs, h, stage_end = [], net.stem(x), []
    cells = list(net.cells)
    for k, cell in enumerate(cells):
        h = cell(h)
        last_of_stage = isinstance(cell, InferCell) and (k + 1 == len(cells) or not isinstance(cells[k + 1], InferCell))
        if last_of_stage:
            stage_end.append(h)
    outs = stage_end[:2] + [net.lastact(stage_end[2])]
    return outs


@torch.inference_mode()
def pooled_features(net: nn.Module, images: torch.Tensor) -> dict[tuple[int, str], torch.Tensor]:
    """{(stage, pooling): (N, D)} over ``images`` in batches."""
    parts: dict[tuple[int, str], list[torch.Tensor]] = {}
    for i in range(0, len(images), BATCH):
        for stage, fmap in enumerate(stage_outputs(net, images[i : i + BATCH].contiguous(memory_format=torch.channels_last)), 1):
            for pooling, value in (
                ("gap", fmap.mean((2, 3))),
                ("p2", nn.functional.adaptive_avg_pool2d(fmap, 2).flatten(1)),
                ("std", fmap.std((2, 3))),
            ):
                parts.setdefault((stage, pooling), []).append(value)
    return {k: torch.cat(v) for k, v in parts.items()}


def sgd_error(epoch_features: list[torch.Tensor], train_y: torch.Tensor, val_f: torch.Tensor, val_y: torch.Tensor,
              seed: int) -> float:
    """Validation error (%) of a linear softmax head trained for SGD_EPOCHS epochs by SGD;
    epoch e reads ``epoch_features[e % len(epoch_features)]`` (the same images, possibly
    augmented differently). Features are standardised by the first set's statistics."""
    first = epoch_features[0]
    mean, std = standardiser(first)
    norm = lambda f: ((f.double() - mean) / std).float()  # noqa: E731
    sets = [norm(f) for f in epoch_features]
    generator = torch.Generator(device="cpu").manual_seed(seed)
    head = nn.Linear(first.shape[1], int(max(train_y.max(), val_y.max())) + 1).to(first.device)
    optimiser = torch.optim.SGD(head.parameters(), lr=SGD_LR, momentum=0.9, weight_decay=SGD_WD)
    steps_per_epoch = -(-len(first) // 100)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, SGD_EPOCHS * steps_per_epoch)
    with torch.enable_grad():
        for epoch in range(SGD_EPOCHS):
            order = torch.randperm(len(first), generator=generator).to(first.device)
            for batch in order.split(100):
                loss = nn.functional.cross_entropy(head(sets[epoch % len(sets)][batch]), train_y[batch])
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
                schedule.step()
    with torch.no_grad():
        return float(100.0 * (head(norm(val_f)).argmax(1) != val_y).float().mean())


def augmented(images: torch.Tensor, seed: int) -> torch.Tensor:
    """``images`` each randomly cropped (zero padding 4, i.e. the mean after
    normalisation) and flipped, the standard CIFAR augmentation, seeded."""
    crop_flip = v2.Compose([v2.RandomCrop(images.shape[-1], padding=4), v2.RandomHorizontalFlip()])
    torch.manual_seed(seed)
    return torch.stack([crop_flip(image) for image in images.cpu()]).to(images.device)


def balanced_prefix(labels: torch.Tensor, n: int) -> torch.Tensor:
    """Indices of the first n // classes images of each class."""
    classes = int(labels.max()) + 1
    return torch.cat([torch.nonzero(labels == c).flatten()[: n // classes] for c in range(classes)])


class Bench:
    """What every network of one run is measured with: the scoring images and their
    balanced training subsets, the cheap signals, the variants and whether SGD heads run."""

    def __init__(self, args: argparse.Namespace, device: torch.device) -> None:
        images = load_dataset("cifar10", args.data_dir)
        self.spec, self.device, self.variants, self.sgd = images.spec, device, args.variants.split(","), args.sgd
        self.aug_copies = args.sgd_aug_copies
        self.data = scoring_data(images, max(N_TRAIN), N_VAL, seed=args.seed).to(device)
        self.subsets = {n: balanced_prefix(self.data.train_y, n) for n in N_TRAIN}
        self.naswot = ESTIMATORS.create("naswot", seed=args.seed)
        self.synflow = ESTIMATORS.create("synflow", seed=args.seed)
        self.naswot_data = scoring_data(images, self.naswot.n_train, self.naswot.n_val, seed=args.seed).to(device)
        self.space = SPACES.create("nb201")
        self.sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    def measure(self, arch: str) -> dict:
        """The row of ``arch``: its complexity, cheap signals, and every variant's head
        errors and feature seconds."""
        macs, params = count_complexity(self.space.build(arch, self.spec), self.spec)
        row = {"arch": arch, "macs": macs, "params": params, "errors": {}, "seconds": {}}
        build = lambda: self.space.build(arch, self.spec)  # noqa: E731
        row["naswot"] = self.naswot.estimate(arch, build, self.naswot_data, self.device)
        row["synflow"] = self.synflow.estimate(arch, build, self.naswot_data, self.device)
        for name in self.variants:
            self.measure_variant(name, arch, row)
        return row

    def measure_variant(self, name: str, arch: str, row: dict) -> None:
        data, subsets = self.data, self.subsets
        _, init, bn, seed, _ = VARIANTS[name]
        net = probe(name, arch, self.spec).to(self.device)
        grid = [(f, n, a) for f in FEATURES for n in N_TRAIN for a in ALPHAS] if name == "plain" else [
            (f, 2000, 1e-3) for f in FEATURES
        ]
        # In eval mode features are per image: only the images a head reads are passed.
        # In batch mode they depend on the batch, so every variant sees the same batches.
        read = torch.arange(len(data.train_x), device=self.device)
        if bn == "eval":
            read = torch.cat([subsets[n] for _, n, _ in grid]).unique()
        self.sync()
        t0 = time.perf_counter()
        initialise(net, init, data.train_x)
        net = net.to(memory_format=torch.channels_last)
        train_f = pooled_features(net, data.train_x[read])
        val_f = pooled_features(net, data.val_x)
        self.sync()
        row["seconds"][name] = time.perf_counter() - t0
        features = lambda f, keys, subset: torch.cat([f[key] for key in keys], 1)[torch.searchsorted(read, subset)]  # noqa: E731
        val_features = lambda keys: torch.cat([val_f[key] for key in keys], 1)  # noqa: E731
        for fset, n, alpha in grid:
            tr, va = features(train_f, FEATURES[fset], subsets[n]), val_features(FEATURES[fset])
            if not (torch.isfinite(tr).all() and torch.isfinite(va).all()):
                error = 100.0
            else:
                error = ridge_error(tr, data.train_y[subsets[n]], va, data.val_y, alpha)
            row["errors"][f"{name}|{fset}|ridge|{n}|{alpha:g}"] = error
        subset = subsets[2000]
        if self.sgd:
            keys = FEATURES["stages"]
            tr, va = features(train_f, keys, subset), val_features(keys)
            row["errors"][f"{name}|stages|sgd|2000|{SGD_WD:g}"] = sgd_error([tr], data.train_y[subset], va, data.val_y, seed)
            if self.aug_copies:
                self.sync()
                t0 = time.perf_counter()
                copies = [pooled_features(net, augmented(data.train_x[subset], 1000 * seed + c)) for c in range(self.aug_copies)]
                self.sync()
                row["seconds"][f"{name}+aug"] = row["seconds"][name] + time.perf_counter() - t0
                row["errors"][f"{name}+aug|stages|sgd|2000|{SGD_WD:g}"] = sgd_error(
                    [torch.cat([c[key] for key in keys], 1) for c in copies], data.train_y[subset], va, data.val_y, seed)
        if name == "plain":
            for fset in ("final", "stages"):
                tr, va = features(train_f, FEATURES[fset], subset), val_features(FEATURES[fset])
                row["errors"][f"plain|{fset}|logistic|2000|0.001"] = head_error("logistic", tr, data.train_y[subset], va, data.val_y, 1e-3)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n-archs", type=int, default=300)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--data-dir", default=str(DEFAULT_DATA))
    p.add_argument("--table", default=str(DEFAULT_NB201_TABLE))
    p.add_argument("--device", default="auto")
    p.add_argument("--variants", default=",".join(VARIANTS))
    p.add_argument("--sgd", action="store_true", help="also SGD heads, with and without augmentation, on per-stage "
                   "features of 2,000 images (augmented: --sgd-aug-copies extra forward passes of them)")
    p.add_argument("--sgd-aug-copies", type=int, default=SGD_AUG_COPIES,
                   help="augmented copies of the images for the augmented SGD head; 0 leaves that head out")
    p.add_argument("--first", type=int, help="only the first N networks of the sample")
    p.add_argument("--start", type=int, default=0, help="leave out the first S networks (of those --first keeps)")
    p.add_argument("--save", required=True, help="the results file; a run with the same settings resumes it")
    args = p.parse_args(argv)
    unknown = [v for v in args.variants.split(",") if v not in VARIANTS]
    if unknown:
        p.error(f"unknown variant {unknown[0]!r} (known: {', '.join(VARIANTS)})")
    if args.sgd_aug_copies < 0:
        p.error(f"--sgd-aug-copies must be >= 0, got {args.sgd_aug_copies}")
    if not 0 <= args.start < (args.n_archs if args.first is None else min(args.first, args.n_archs)):
        p.error(f"--start must leave networks to measure: 0 <= S < --first (and --n-archs), got {args.start}")
    settings = {"seed": args.seed, "n_archs": args.n_archs, "variants": args.variants, "sgd": args.sgd, "n_val": N_VAL,
                "start": args.start, "sgd_aug_copies": args.sgd_aug_copies}
    path = Path(args.save)
    rows = resumed_rows(path, settings)
    archs = sample_archs(args.n_archs, args.seed, load_table(args.table))[: args.first][args.start :]
    if [row["arch"] for row in rows[: len(archs)]] != archs[: len(rows)]:
        raise SystemExit(f"{path} holds other networks than this sample's: was it made with another --table?")
    device = resolve_device(args.device)
    bench, start_all = Bench(args, device), time.perf_counter()
    for k, arch in enumerate(archs[len(rows):], len(rows)):
        rows.append(bench.measure(arch))
        atomic_write(path, json.dumps({**settings, "device": str(device), "rows": rows}))
        print(f"{k + 1}/{len(archs)} networks, {time.perf_counter() - start_all:.0f}s", file=sys.stderr, flush=True)
    print(f"saved {len(rows)} networks to {args.save} in {time.perf_counter() - start_all:.0f}s on {device}")


def resumed_rows(path: Path, settings: dict) -> list[dict]:
    """The rows of an earlier run with the same ``settings`` saved at ``path`` (none when
    it does not exist); SystemExit when it was made otherwise."""
    if not path.exists():
        return []
    doc = json.loads(path.read_text())
    made_with = {key: setting(doc, key) for key in settings}
    if made_with != settings:
        raise SystemExit(f"{path} was made with {made_with}, not {settings}: give another --save")
    return doc["rows"]


def setting(doc: dict, key: str):
    """The value of setting ``key`` a results file was made with."""
    return doc.get(key, LATER_SETTINGS.get(key))


if __name__ == "__main__":
    main()
