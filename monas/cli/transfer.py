"""The ``transfer_imagenet`` command: train the ImageNet form of architectures of any
space that has one (``SearchSpace.build_for_training``: DARTS's ImageNet network with
stride-2 stems, MobileNetV3 with its 224x224 strides as in Once-for-All; NAS-Bench-201
has none) with a recipe (default: the space's own; ``monas.cli.recipes``) on an
ImageNet-layout folder, with DistributedDataParallel under torchrun, or as submitit
jobs (one per architecture) on SLURM or locally.

``--data-dir`` holds ``train/<wnid>/*`` and ``val/<wnid>/*`` (the standard ImageNet
layout; ``../shared/data/tiny-imagenet`` for smoke runs). Each architecture's folder gets
``run.json``, ``metrics.csv`` (top-1, top-5 per evaluation), ``checkpoint.pt`` (every
epoch, every ``--checkpoint-every-steps`` steps, and on SIGTERM/SIGUSR1) and
``result.json``. Submitted jobs resume from their checkpoint when SLURM requeues them
after preemption or a time-out.

Everything is checked before anything is written, as in ``train_cifar``: flags,
architectures, folders, the device (when training here), the cluster (``sbatch`` for
``--submit slurm``) and the ImageFolder trees. Images are decoded as training reads
them: a corrupt one stops the run with one line naming the file, or, with
``--skip-bad-images``, every image is decoded once up front and the unreadable ones are
left out and counted. Only rank 0 writes, and holds the folder's lock.

Exit codes: 0 done (or jobs submitted), 2 bad input (one line on stderr, nothing
submitted, no earlier result changed), 130 interrupted or preempted (continue with
``--resume``).

This module imports no torch: ``--help`` and bad flags are answered at once, and the
work (``monas.cli.transfer_job``: torch, torchvision, submitit) is imported once the
flags are checked; the two halves share ``monas.cli.transfer_spec``.
"""
from __future__ import annotations

import argparse
import dataclasses
import shutil
from collections.abc import Sequence
from pathlib import Path

from monas.cli.common import OutPolicy, UsageError, check_out_folder, key_values
from monas.cli.networks import add_network_flags, network_settings, recipe_from_args, source_from_args
from monas.cli.recipes import recipe_config
from monas.cli.training import add_limit_flags, add_output_flags, training_main, training_parser
from monas.cli.transfer_spec import PROG, TransferSpec
from monas.device import resolve_device
from monas.train.flags import add_config_flags, config_from_args

MAX_IMAGE_SIZE = 2048


def build_parser() -> argparse.ArgumentParser:
    """The argument parser."""
    p = training_parser(
        PROG,
        "Train the ImageNet form of architectures of any space that has one (Pareto members of a search "
        "run: --run --pick; or --space --arch, --genotype for DARTS) with DDP: run under torchrun, or submit one job "
        "per architecture through submitit (--submit slurm).",
        dataset=False,
    )
    p.add_argument("--data-dir", help="ImageNet-layout folder with train/<wnid>/ and val/<wnid>/")
    p.add_argument("--image-size", type=int, default=224, help="training and evaluation crop size (default 224)")
    add_network_flags(p, "imagenet", "default 48 with 14 --layers, DARTS's mobile setting")
    add_limit_flags(p, "val")
    add_config_flags(p, recipe_config("darts", "imagenet"))
    add_output_flags(p, "runs/imagenet")
    p.add_argument("--submit", choices=("none", "local", "slurm"), default="none",
                   help="none: train here (under torchrun for several processes); local or slurm: one submitit job "
                   "per architecture (local waits for them) (default none)")
    p.add_argument("--nodes", type=int, default=1, help="nodes per job (default 1)")
    p.add_argument("--gpus-per-node", type=int, default=8, help="GPUs per node, one process each; 0 = one CPU process "
                   "(default 8)")
    p.add_argument("--cpus-per-task", type=int, default=10, help="CPU cores per process (default 10)")
    p.add_argument("--partition", help="SLURM partition")
    p.add_argument("--time", type=int, default=24 * 60, help="time limit per job in minutes; jobs that reach it are "
                   "requeued and resume (default 1440)")
    p.add_argument("--slurm-option", action="append", default=[], metavar="KEY=VALUE",
                   help="extra sbatch setting, e.g. account=myproj or constraint=a100; repeatable")
    p.add_argument("--skip-bad-images", action="store_true", help="decode every chosen image once before training and "
                   "leave out (and count) those that fail, instead of stopping at the first one")
    return p


def specs_from_args(args: argparse.Namespace) -> list[TransferSpec]:
    """One TransferSpec per chosen architecture, validated."""
    if args.data_dir is None:
        raise UsageError("--data-dir is required (a folder with train/<wnid>/ and val/<wnid>/)")
    missing = [split for split in ("train", "val") if not (Path(args.data_dir) / split).is_dir()]
    if missing:
        raise UsageError(f"--data-dir {args.data_dir} has no {missing[0]}/ folder (expected train/<wnid>/ and val/<wnid>/)")
    if args.image_size < 32 or args.image_size % 32 or args.image_size > MAX_IMAGE_SIZE:
        raise UsageError(f"--image-size must be a multiple of 32 (the network halves it 5 times) up to {MAX_IMAGE_SIZE}, "
                         f"got {args.image_size}")
    check_out_folder(args.out)
    check_cluster(args)
    if args.submit != "slurm":  # a SLURM job's device is on the cluster, not here
        resolve_device(args.device)
    source = source_from_args(args)
    settings = network_settings(args, source.space, "imagenet")
    recipe, base = recipe_from_args(args, source.space, "imagenet")
    config = config_from_args(args, base)
    specs = []
    for name, pick in source.chosen:
        describe = {
            "space": source.space, "genotype": pick.arch, "run": args.run, "member": pick.index if args.run else None,
            "data_dir": args.data_dir, "image_size": args.image_size, "train_limit": args.train_limit,
            "val_limit": args.val_limit, "recipe": recipe, **settings, "config": dataclasses.asdict(config),
        }
        out = Path(args.out) if len(source.chosen) == 1 else Path(args.out) / name
        specs.append(TransferSpec(name, source.space, pick.arch, str(out), args.data_dir, args.image_size, settings,
                                  args.train_limit, args.val_limit, config, args.device, describe, args.resume,
                                  args.skip_bad_images))
    return specs


def check_cluster(args: argparse.Namespace) -> None:
    """UsageError unless the job settings are in range and the cluster is reachable:
    ``--submit local`` runs one node here; ``--submit slurm`` needs ``sbatch``."""
    limits = {"nodes": (1, 1024), "gpus_per_node": (0, 64), "cpus_per_task": (1, 1024), "time": (1, 60 * 24 * 365)}
    for name, (low, high) in limits.items():
        value = getattr(args, name)
        if not low <= value <= high:
            raise UsageError(f"--{name.replace('_', '-')} must be between {low} and {high}, got {value}")
    if args.submit == "local" and args.nodes != 1:
        raise UsageError("--submit local runs on this machine; --nodes must be 1")
    if args.submit == "slurm":
        key_values(args.slurm_option, "--slurm-option")
        if shutil.which("sbatch") is None:
            raise UsageError("--submit slurm needs SLURM, but sbatch is not on PATH; run on a SLURM login node")
    elif args.slurm_option or args.partition:
        raise UsageError("--slurm-option and --partition apply only with --submit slurm")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``experiments/transfer_imagenet.py`` and the ``monas-transfer`` console script."""

    def work(args: argparse.Namespace) -> int:
        policy = OutPolicy(args.resume, args.overwrite)
        specs = specs_from_args(args)
        from monas.cli.transfer_job import run_specs  # torch, torchvision, submitit: once the flags are checked

        return run_specs(specs, args, policy)

    return training_main(PROG, build_parser(), argv, work)
