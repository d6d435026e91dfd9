"""The ``train_cifar`` command: train architectures of any space (given, or picked from
a search's Pareto front) to convergence on a small-image dataset, in the space's CIFAR
form (``SearchSpace.build_for_training``) with a recipe (default: the space's own, e.g.
DARTS's CIFAR recipe for DARTS cells; ``monas.cli.recipes``) that flags override.

Per architecture the output folder holds ``run.json`` (what is trained, written first),
``metrics.csv`` (one row per evaluation), ``tensorboard/`` (when installed),
``checkpoint.pt`` (every epoch) and, at the end, ``result.json`` (test accuracy,
params, MACs, epochs, seconds).

Every input (flags, architectures, output folders, the device, the dataset, which is
decoded up front) is checked before anything is written. Each folder is locked while
it is trained (``monas.io.RunLock``); ``--overwrite`` moves the old run aside and
deletes it only once the new run has written its first checkpoint, putting it back if
the new run fails before that (a start that fails leaves the folder as it was). A
folder holding only ``run.json`` (a start killed before its first checkpoint) holds no
run and is trained anew. ``--resume`` of a finished run changes nothing and says so.

Exit codes: 0 done, 2 bad input (one line on stderr, no earlier result changed),
130 interrupted or preempted (continue with ``--resume``).
"""
from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from monas.cli.common import OutPolicy, UsageError, check_out_folder
from monas.cli.networks import (
    Source,
    add_network_flags,
    network_settings,
    recipe_from_args,
    source_from_args,
)
from monas.cli.training import (
    RESULT,
    FolderPlan,
    add_limit_flags,
    add_output_flags,
    check_network_size,
    check_run_folder,
    limit_subset,
    plan_out,
    started_runs,
    training_main,
    training_parser,
    write_result,
)
from monas.device import resolve_device
from monas.train.config import TrainConfig
from monas.train.flags import add_config_flags, config_from_args

if TYPE_CHECKING:
    import torch

PROG = "train_cifar"


def make_stopper(kind: str, config: TrainConfig):
    """None, or a learning-curve stopper predicting the accuracy at ``config.epochs``."""
    if kind == "none":
        return None
    from monas.train.curves import CurveStopper

    return CurveStopper(final_epoch=config.epochs)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser."""
    p = training_parser(
        PROG,
        "Train architectures of any space (Pareto members of a search run: --run --pick; or --space "
        "--arch, --genotype for DARTS) in the space's CIFAR form with a recipe. Writes run.json, metrics.csv, "
        "checkpoint.pt and result.json into one folder per architecture.",
    )
    add_limit_flags(p, "test")
    add_network_flags(p, "cifar", "default 36 with 20 --layers, DARTS's CIFAR network")
    add_config_flags(p, TrainConfig())
    p.add_argument("--early-stop", choices=("none", "curve"), default="none",
                   help="curve: stop when the learning-curve prediction has converged (evaluates every half epoch "
                   "unless --eval-every is given)")
    add_output_flags(p, "runs/train")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``experiments/train_cifar.py`` and the ``monas-train`` console script."""

    def work(args: argparse.Namespace) -> int:
        policy = OutPolicy(args.resume, args.overwrite)
        check_out_folder(args.out)
        source = source_from_args(args)
        recipe, base = recipe_from_args(args, source.space, "cifar")
        config = config_from_args(args, base)
        if args.early_stop == "curve" and not hasattr(args, "eval_every"):
            config.eval_every = 0.5
        settings = network_settings(args, source.space, "cifar")
        return train_chosen(args, policy, config, source, recipe, settings)

    return training_main(PROG, build_parser(), argv, work)


def train_chosen(args: argparse.Namespace, policy: OutPolicy, config: TrainConfig, source: Source, recipe: str,
                 settings: dict) -> int:
    """Check the device, the dataset and the network sizes, plan every folder, then
    train every chosen architecture with ``config`` (from ``recipe``) in its space's
    CIFAR form with ``settings`` (the part of ``main`` that needs torch, imported here
    once the flags are checked); the exit code."""
    import torch

    from monas.data import load_dataset
    from monas.registry import SPACES

    device = resolve_device(args.device)
    train_images = load_dataset(args.dataset, args.data_dir, "train")
    test_images = load_dataset(args.dataset, args.data_dir, "test")
    space = SPACES.create(source.space)

    def build(arch: str, auxiliary: bool = False) -> torch.nn.Module:
        return space.build_for_training(arch, train_images.spec, "cifar", auxiliary, **settings)

    train_idx = limit_subset(len(train_images), args.train_limit, config.seed, "--train-limit")
    test_idx = limit_subset(len(test_images), args.test_limit, config.seed, "--test-limit")
    if config.batch_size > len(train_idx):
        raise UsageError(f"--batch-size {config.batch_size} is larger than the {len(train_idx)} training images")
    for name, pick in source.chosen:
        check_network_size(lambda: build(pick.arch, config.auxiliary_weight > 0), name)
    out_root = Path(args.out)
    if len(source.chosen) > 1:
        check_run_folder(out_root, "training", PROG)
    runs = []
    for name, pick in source.chosen:
        describe = {
            "space": source.space, "genotype": pick.arch, "run": args.run, "member": pick.index if args.run else None,
            "dataset": args.dataset, "data_dir": args.data_dir, "train_images": len(train_idx),
            "test_images": len(test_idx), "recipe": recipe, **settings, "config": dataclasses.asdict(config),
        }
        out = out_root if len(source.chosen) == 1 else out_root / name
        runs.append(Planned(name, pick.arch, describe, plan_out(out, describe, policy, PROG)))
    for run in runs:
        if run.plan.finished:
            print(f"{PROG}: {run.name}: already finished ({run.plan.folder / RESULT}); nothing to do", flush=True)
    if all(run.plan.finished for run in runs):
        return 0
    # Decoded before anything is written: an unreadable image is reported with the earlier run untouched.
    train_data = (train_images.images(train_idx), torch.from_numpy(train_images.labels[train_idx]))
    test_data = (test_images.images(test_idx), torch.from_numpy(test_images.labels[test_idx]))
    return train_planned(args, config, [run for run in runs if not run.plan.finished], build,
                         (train_data, test_data, train_images.spec, device))


@dataclass
class Planned:
    """One architecture to train: its name, architecture string, run.json contents and
    folder plan."""

    name: str
    arch: str
    describe: dict
    plan: FolderPlan


def train_planned(args: argparse.Namespace, config: TrainConfig, runs: list[Planned],
                  build: Callable[..., torch.nn.Module], data: tuple) -> int:
    """Train each of ``runs`` with the networks ``build(arch, auxiliary)`` makes on
    ``data`` (training and test tensors, input spec, device), writing its result.json;
    the exit code (130 when preempted)."""
    import torch

    from monas.complexity import count_complexity
    from monas.train.distributed import PreemptionFlag
    from monas.train.loop import TrainingStateError, train

    train_data, test_data, spec, device = data
    with started_runs([run.plan for run in runs], [run.describe for run in runs]) as starts, \
            PreemptionFlag() as preempted:
        for run in runs:
            out = run.plan.folder
            print(f"{PROG}: training {run.name} into {out}", flush=True)
            torch.manual_seed(config.seed)
            net = build(run.arch, config.auxiliary_weight > 0)
            macs, params = count_complexity(build(run.arch), spec)
            try:
                result = train(net, train_data, test_data, config, device, out_dir=out, resume=args.resume,
                               stopper=make_stopper(args.early_stop, config), should_stop=preempted, log=print,
                               on_checkpoint=starts[out].start)
            except TrainingStateError as exc:
                raise UsageError(str(exc)) from None
            if result.preempted:
                print(f"{PROG}: preempted at step {result.steps}; checkpoint in {out}; continue with --resume",
                      flush=True)
                return 130
            summary = write_result(out, run.describe, result, macs, params)
            print(f"{PROG}: {run.name}: test accuracy {summary['test_accuracy']:.2f}% after {summary['epochs']:.2f} "
                  f"epochs; {params / 1e6:.3f}M params, {macs / 1e6:.1f}M MACs; {out / RESULT}", flush=True)
    return 0
