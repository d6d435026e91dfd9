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
import contextlib
import dataclasses
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from monas.cli.common import OneLineParser, UsageError, check_device, known_names, run_command
from monas.cli.networks import (
    BEFORE_SPACES,
    Source,
    add_network_flags,
    add_source_flags,
    network_settings,
    recipe_from_args,
    source_from_args,
)
from monas.io import LOCK_FILE, RunDirError, RunClaim, atomic_write, check_writable_folder, refuse_links
from monas.search.record import RUN_FILES
from monas.registry import DATASETS
from monas.train.config import (
    BEST,
    BEST_FLAGS,
    CHECKPOINT,
    METRICS,
    RESUMABLE_CHANGES,
    TENSORBOARD,
    TRIALS,
    TrainConfig,
)

if TYPE_CHECKING:
    import torch

PROG = "train_cifar"
RUN, RESULT = "run.json", "result.json"
OUTPUTS = (RUN, RESULT, METRICS, CHECKPOINT, TENSORBOARD)
# Files of the other monas commands' runs (a search; a tuning run also writes final.json):
# a training --out holding one of these is another kind of run, never replaced.
FOREIGN = (*RUN_FILES, TRIALS, BEST, BEST_FLAGS, "final.json")
MAX_PARAMS = 2_000_000_000  # networks beyond this exhaust memory long before they train

CONFIG_HELP = {
    "epochs": "training epochs",
    "batch_size": "images per batch (per process)",
    "lr": "initial learning rate (SGD)",
    "momentum": "SGD momentum",
    "weight_decay": "L2 weight decay",
    "label_smoothing": "label smoothing of the cross-entropy",
    "drop_path": "final drop-path probability (raised linearly from 0)",
    "auxiliary_weight": "weight of the auxiliary head's loss; 0 = no auxiliary head",
    "grad_clip": "gradient-norm clipping; 0 = off",
    "warmup_epochs": "linear learning-rate warm-up (epochs)",
    "schedule": "learning-rate decay after the warm-up: cosine or linear",
    "seed": "seed of the weights, data order and augmentation",
    "amp": "automatic mixed precision (float16) on CUDA",
    "channels_last": "channels-last tensors on CUDA",
    "flip": "random horizontal flips",
    "crop_padding": "random crop after zero padding by this many pixels; 0 = off",
    "cutout": "Cutout square size; 0 = off",
    "mixup": "MixUp Beta alpha; 0 = off",
    "cutmix": "CutMix Beta alpha; 0 = off",
    "randaugment": "RandAugment magnitude; 0 = off",
    "time_budget": "seconds of training; the schedule is fitted to it and training stops when it is spent",
    "max_steps": "stop after this many optimizer steps (schedule unchanged; smoke runs)",
    "eval_every": "evaluate every this many epochs (0.5 = twice per epoch)",
    "checkpoint_every_steps": "also checkpoint every this many steps",
    "loader_workers": "data-loader worker processes",
    "eval_batch_size": "images per evaluation batch",
}


def add_config_flags(p: argparse.ArgumentParser, defaults: TrainConfig) -> None:
    """One flag per TrainConfig field (``--batch-size``; booleans ``--amp/--no-amp``),
    overriding the recipe's value; the help shows ``defaults`` (darts's recipe). Unset
    flags are absent from the namespace."""
    for f in dataclasses.fields(TrainConfig):
        flag = "--" + f.name.replace("_", "-")
        default = getattr(defaults, f.name)
        help_text = f"{CONFIG_HELP[f.name]} (default: the recipe's; darts {default})"
        if isinstance(default, bool):
            p.add_argument(flag, action=argparse.BooleanOptionalAction, default=argparse.SUPPRESS, help=help_text)
        else:
            kind = {"time_budget": float, "max_steps": int, "checkpoint_every_steps": int}.get(f.name, type(f.default))
            p.add_argument(flag, type=kind, default=argparse.SUPPRESS, help=help_text)


def config_from_args(args: argparse.Namespace, defaults: TrainConfig) -> TrainConfig:
    """``defaults`` with the given flags applied, validated (UsageError when out of range)."""
    given = {f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig) if hasattr(args, f.name)}
    config = dataclasses.replace(defaults, **given)
    try:
        config.validate()
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    return config


def out_path(text: str) -> Path:
    """``--out`` as a path; UsageError when empty (which would mean the current folder)."""
    if not text.strip():
        raise UsageError("--out must name a folder, got an empty string")
    return Path(text)


def usable_device(name: str) -> torch.device:
    """The torch device ``name`` resolves to (``monas.device.resolve_device``);
    UsageError (``check_device``) when it is unknown or this machine lacks it."""
    from monas.device import resolve_device

    check_device(name)
    return resolve_device(name)


def check_network_size(build: Callable[[], torch.nn.Module], what: str) -> None:
    """UsageError when the network ``build()`` makes has more than MAX_PARAMS parameters
    (counted on the meta device: nothing is allocated)."""
    import torch

    with torch.device("meta"):
        params = sum(p.numel() for p in build().parameters())
    if params > MAX_PARAMS:
        raise UsageError(f"{what} would have {params:.3g} parameters (more than {MAX_PARAMS:.0e}); give smaller "
                         "network settings (--net)")


def read_json_object(path: Path) -> dict:
    """The JSON object in ``path``; RunDirError when it is unreadable or not an object."""
    try:
        value = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise RunDirError(f"{path} is unreadable ({type(exc).__name__}); start again with --overwrite") from None
    if not isinstance(value, dict):
        raise RunDirError(f"{path} is not a JSON object; start again with --overwrite")
    return value


def refuse_foreign(out: Path, own: str) -> None:
    """RunDirError when ``out`` holds another kind of monas run than ``own``'s."""
    foreign = [name for name in FOREIGN if (out / name).exists()] if out.is_dir() else []
    if foreign:
        raise RunDirError(f"{out} holds another kind of monas run ({foreign[0]}), not {own}; give another --out")


@dataclass
class FolderPlan:
    """What to do with one output folder: ``finished`` (a finished run to leave as it
    is), or train into it: writing run.json first (``fresh``, after moving the old
    files ``replace`` aside) or continuing its checkpoint."""

    folder: Path
    finished: bool = False
    fresh: bool = True
    replace: tuple[str, ...] = ()

    def start(self) -> RunClaim:
        """The folder's RunClaim: locked; on a fresh start the old files set aside and
        the new ones removed again if the run fails before its first checkpoint."""
        return RunClaim(self.folder, fresh=self.fresh, files=OUTPUTS, replace=self.replace)


def plan_out(out: Path, describe: dict, resume: bool, overwrite: bool) -> FolderPlan:
    """Check ``out`` for training ``describe`` into it (changing nothing): a writable
    folder, no symbolic link, no other kind of run; a run already there is refused
    unless ``overwrite`` (replaced) or ``resume`` (its run.json must match ``describe``,
    training settings other than RESUMABLE_CHANGES included). A folder holding run.json
    without a checkpoint or result is a start that never trained: trained anew."""
    check_writable_folder(out)
    refuse_links(out, [*OUTPUTS, LOCK_FILE])
    refuse_foreign(out, PROG)
    existing = tuple(name for name in OUTPUTS if (out / name).exists())
    progress = (out / CHECKPOINT).exists() or (out / RESULT).exists()
    if resume and (out / RUN).exists() and progress:
        recorded = {**BEFORE_SPACES, **read_json_object(out / RUN)}
        for key, value in describe.items():
            if key != "config" and recorded.get(key) != value:
                raise UsageError(f"{out} trains {key}={recorded.get(key)!r}, not {value!r}; resume with the run's own settings")
        saved = recorded.get("config") if isinstance(recorded.get("config"), dict) else {}
        for key, value in describe["config"].items():
            if key not in RESUMABLE_CHANGES and saved.get(key) != value:
                hint = ("a finished run is not extended (its schedule ends there); train anew with --overwrite"
                        if (out / RESULT).exists() and key == "epochs" else "resume with the run's own settings")
                raise UsageError(f"{out} was trained with {key}={saved.get(key)!r}, not {value!r}; {hint}")
        return FolderPlan(out, finished=(out / RESULT).exists(), fresh=False)
    if progress and not overwrite:
        raise UsageError(f"{out} already holds a training run ({existing[0]}); pass --resume to continue it or --overwrite")
    return FolderPlan(out, replace=existing)


@contextlib.contextmanager
def started_runs(plans: Sequence[FolderPlan], describes: Sequence[dict]):
    """Start every unfinished planned folder (RunClaim each, run.json written on a fresh
    start) and yield their RunClaims, keyed by folder; all are undone if any start fails."""
    with contextlib.ExitStack() as stack:
        starts = {}
        for plan, describe in zip(plans, describes):
            if plan.finished:
                continue
            starts[plan.folder] = stack.enter_context(plan.start())
            if plan.fresh:
                atomic_write(plan.folder / RUN, json.dumps(describe, indent=2) + "\n")
        yield starts


def write_result(out: Path, describe: dict, result, macs: int, params: int) -> dict:
    """Write result.json: what was trained, final test accuracy, MACs, params, time."""
    summary = {
        **describe,
        "test_accuracy": result.test_accuracy,
        "test_top5": result.test_top5,
        "test_loss": result.test_loss,
        "params": params,
        "macs": macs,
        "epochs": result.epochs,
        "steps": result.steps,
        "seconds": result.seconds,
        "train_seconds": result.train_seconds,
        "stopped_early": result.stopped_early,
        "prediction": result.prediction,
    }
    atomic_write(out / RESULT, json.dumps(summary, indent=2) + "\n")
    return summary


def make_stopper(kind: str, config: TrainConfig):
    """None, or a learning-curve stopper predicting the accuracy at ``config.epochs``."""
    if kind == "none":
        return None
    from monas.train.curves import CurveStopper

    return CurveStopper(final_epoch=config.epochs)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser."""
    p = OneLineParser(
        prog=PROG,
        description="Train architectures of any space (Pareto members of a search run: --run --pick; or --space "
        "--arch, --genotype for DARTS) in the space's CIFAR form with a recipe. Writes run.json, metrics.csv, "
        "checkpoint.pt and result.json into one folder per architecture.",
    )
    add_source_flags(p)
    p.add_argument("--dataset", default="cifar10", help=f"{', '.join(known_names(DATASETS))} (default cifar10)")
    p.add_argument("--data-dir", help="dataset folder (an ImageFolder tree, or torchvision's CIFAR files)")
    p.add_argument("--train-limit", type=int, help="train on this many training images (a seeded random subset)")
    p.add_argument("--test-limit", type=int, help="test on this many test images (a seeded random subset)")
    add_network_flags(p, "cifar", "default 36 with 20 --layers, DARTS's CIFAR network")
    add_config_flags(p, TrainConfig())
    p.add_argument("--early-stop", choices=("none", "curve"), default="none",
                   help="curve: stop when the learning-curve prediction has converged (evaluates every half epoch "
                   "unless --eval-every is given)")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda or cuda:N (default auto)")
    p.add_argument("--out", default="runs/train", help="output folder; several architectures get one subfolder each "
                   "(default runs/train)")
    p.add_argument("--resume", action="store_true", help="continue the run(s) in --out from their checkpoints")
    p.add_argument("--overwrite", action="store_true", help="replace runs already in --out")
    return p


def _subset(n: int, limit: int | None, seed: int, flag: str) -> np.ndarray:
    if limit is None:
        return np.arange(n)
    if not 1 <= limit <= n:
        raise UsageError(f"{flag} must be between 1 and {n}, got {limit}")
    return np.sort(np.random.default_rng(seed).permutation(n)[:limit])


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``experiments/train_cifar.py`` and the ``monas-train`` console script."""

    def work() -> int:
        args = build_parser().parse_args(argv)
        if args.resume and args.overwrite:
            raise UsageError("--resume and --overwrite exclude each other")
        out_root = out_path(args.out)
        source = source_from_args(args)
        recipe, base = recipe_from_args(args, source.space, "cifar")
        config = config_from_args(args, base)
        if args.early_stop == "curve" and not hasattr(args, "eval_every"):
            config.eval_every = 0.5
        settings = network_settings(args, source.space, "cifar")
        if args.list:
            print(source.listing())
            return 0
        return train_chosen(args, config, out_root, source, recipe, settings)

    return run_command(PROG, work, "continue with --resume")


def train_chosen(args: argparse.Namespace, config: TrainConfig, out_root: Path, source: Source, recipe: str,
                 settings: dict) -> int:
    """Check the device, the dataset and the network sizes, plan every folder, then
    train every chosen architecture with ``config`` (from ``recipe``) in its space's
    CIFAR form with ``settings`` (the part of ``main`` that needs torch, imported here
    once the flags are checked); the exit code."""
    import torch

    from monas.complexity import count_complexity
    from monas.data import load_dataset
    from monas.registry import SPACES
    from monas.train.distributed import PreemptionFlag
    from monas.train.loop import TrainingStateError, train

    device = usable_device(args.device)
    train_images = load_dataset(args.dataset, args.data_dir, "train")
    test_images = load_dataset(args.dataset, args.data_dir, "test")
    spec = train_images.spec
    space = SPACES.create(source.space)

    def build(arch: str, auxiliary: bool = False) -> torch.nn.Module:
        return space.build_for_training(arch, spec, "cifar", auxiliary, **settings)

    chosen = source.chosen
    train_idx = _subset(len(train_images), args.train_limit, config.seed, "--train-limit")
    test_idx = _subset(len(test_images), args.test_limit, config.seed, "--test-limit")
    if config.batch_size > len(train_idx):
        raise UsageError(f"--batch-size {config.batch_size} is larger than the {len(train_idx)} training images")
    for name, pick in chosen:
        check_network_size(lambda: build(pick.arch, config.auxiliary_weight > 0), name)
    folders = {name: out_root if len(chosen) == 1 else out_root / name for name, _ in chosen}
    if len(chosen) > 1:
        refuse_foreign(out_root, PROG)
    describes = {}
    for name, pick in chosen:
        describes[name] = {
            "space": source.space, "genotype": pick.arch, "run": args.run, "member": pick.index if args.run else None,
            "dataset": args.dataset, "data_dir": args.data_dir, "train_images": len(train_idx),
            "test_images": len(test_idx), "recipe": recipe, **settings, "config": dataclasses.asdict(config),
        }
    plans = {name: plan_out(folders[name], describes[name], args.resume, args.overwrite) for name, _ in chosen}
    for name, _ in chosen:
        if plans[name].finished:
            print(f"{PROG}: {name}: already finished ({folders[name] / RESULT}); nothing to do", flush=True)
    if all(plan.finished for plan in plans.values()):
        return 0
    # Decoded before anything is written: an unreadable image is reported with the earlier run untouched.
    train_data = (train_images.images(train_idx), torch.from_numpy(train_images.labels[train_idx]))
    test_data = (test_images.images(test_idx), torch.from_numpy(test_images.labels[test_idx]))
    names = [name for name, _ in chosen]
    with started_runs([plans[n] for n in names], [describes[n] for n in names]) as starts, \
            PreemptionFlag() as preempted:
        for name, pick in chosen:
            out = folders[name]
            if plans[name].finished:
                continue
            print(f"{PROG}: training {name} into {out}", flush=True)
            torch.manual_seed(config.seed)
            net = build(pick.arch, config.auxiliary_weight > 0)
            macs, params = count_complexity(build(pick.arch), spec)
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
            summary = write_result(out, describes[name], result, macs, params)
            print(f"{PROG}: {name}: test accuracy {summary['test_accuracy']:.2f}% after {summary['epochs']:.2f} epochs; "
                  f"{params / 1e6:.3f}M params, {macs / 1e6:.1f}M MACs; {out / RESULT}", flush=True)
    return 0
