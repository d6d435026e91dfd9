"""The ``transfer_imagenet`` command: train the ImageNet form of DARTS genotypes (the
DARTS ImageNet network, stride-2 stems) on an ImageNet-layout folder, with
DistributedDataParallel under torchrun, or as submitit jobs (one per genotype) on
SLURM or locally.

``--data-dir`` holds ``train/<wnid>/*`` and ``val/<wnid>/*`` (the standard ImageNet
layout; ``../shared/data/tiny-imagenet`` for smoke runs). Each genotype's folder gets
``run.json``, ``metrics.csv`` (top-1, top-5 per evaluation), ``checkpoint.pt`` (every
epoch, every ``--checkpoint-every-steps`` steps, and on SIGTERM/SIGUSR1) and
``result.json``. Submitted jobs resume from their checkpoint when SLURM requeues them
after preemption or a time-out.

Everything is checked before anything is written, as in ``train_cifar``: flags,
genotypes, folders, the device (when training here), the cluster (``sbatch`` for
``--submit slurm``) and the ImageFolder trees. Images are decoded as training reads
them: a corrupt one stops the run with one line naming the file, or, with
``--skip-bad-images``, every image is decoded once up front and the unreadable ones are
left out and counted. Only rank 0 writes, and holds the folder's lock.

Exit codes: 0 done (or jobs submitted), 2 bad input (one line on stderr, nothing
submitted, no earlier result changed), 130 interrupted or preempted (continue with
``--resume``).
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import submitit
import torch
import torch.distributed as dist
from torch.utils.data import Subset

from monas import distributed
from monas.augment import imagenet_eval_transform, imagenet_train_transform
from monas.cli import OneLineParser, UsageError, run_command
from monas.complexity import count_complexity
from monas.data import DatasetError, read_rgb
from monas.io import RunDirError, RunLock
from monas.train import TrainConfig, TrainingStateError, TrainResult, train
from monas.train_cli import (
    RESULT,
    add_config_flags,
    add_source_flags,
    check_cells,
    check_network_size,
    config_from_args,
    genotypes_from_args,
    listing,
    out_path,
    plan_out,
    started_runs,
    usable_device,
    write_result,
)
from search_spaces.base import InputSpec
from search_spaces.darts.genotypes import parse_genotype
from search_spaces.darts.model import NetworkImageNet

PROG = "transfer_imagenet"
# DARTS's ImageNet recipe (label smoothing 0.1, weight decay 3e-5, auxiliary weight 0.4,
# clipping at 5, 250 epochs, batch 128, lr 0.1, no drop-path or cutout) with PC-DARTS's
# warm-up then linear decay in place of DARTS's 0.97-per-epoch steps.
IMAGENET_DEFAULTS = TrainConfig(
    epochs=250, batch_size=128, lr=0.1, weight_decay=3e-5, label_smoothing=0.1, drop_path=0.0, auxiliary_weight=0.4,
    grad_clip=5.0, warmup_epochs=5, schedule="linear", crop_padding=0, cutout=0, checkpoint_every_steps=1000,
    loader_workers=8,
)
MAX_IMAGE_SIZE = 2048
LOCK_WAIT_SECONDS = 120  # a submitted job waits this long for the submitting process to release the folder


@dataclass
class TransferSpec:
    """Everything one genotype's ImageNet training needs (picklable, for submitit)."""

    name: str
    arch: str
    out: str
    data_dir: str
    image_size: int
    init_channels: int
    layers: int
    train_limit: int | None
    val_limit: int | None
    config: TrainConfig
    device: str
    describe: dict
    resume: bool
    skip_bad_images: bool = False


class _Readable(torch.utils.data.Dataset):
    """Whether each of ``paths`` decodes (for the up-front scan of --skip-bad-images)."""

    def __init__(self, paths: list[str]) -> None:
        self.paths = paths

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> bool:
        try:
            read_rgb(self.paths[index])
        except DatasetError:
            return False
        return True


def readable(paths: list[str], workers: int) -> list[bool]:
    """Whether each image decodes, decoded by ``workers`` loader processes."""
    loader = torch.utils.data.DataLoader(_Readable(paths), batch_size=64, num_workers=workers,
                                         collate_fn=list)
    return [ok for batch in loader for ok in batch]


def imagenet_data(spec: TransferSpec, log: Callable[[str], None] = print) -> tuple[Subset, Subset, int]:
    """(train, val, number of classes) ImageFolder datasets of ``spec.data_dir`` with the
    ImageNet transforms; limits take seeded random subsets. An image that does not
    decode raises DatasetError naming it when it is read; with ``skip_bad_images`` the
    chosen images are all decoded here and those that fail are left out (and counted)."""
    import torchvision

    root = Path(spec.data_dir)
    folders = []
    for split, transform in (
        ("train", imagenet_train_transform(spec.image_size, flip=spec.config.flip, cutout=spec.config.cutout,
                                           randaugment=spec.config.randaugment)),
        ("val", imagenet_eval_transform(spec.image_size)),
    ):
        try:
            folders.append(torchvision.datasets.ImageFolder(str(root / split), transform=transform, loader=read_rgb))
        except (FileNotFoundError, RuntimeError, PermissionError) as exc:
            raise UsageError(f"{root / split} is not a readable ImageFolder tree (<wnid>/<image> per class): {exc}") from None
    train_set, val_set = folders
    if train_set.classes != val_set.classes:
        raise UsageError(f"{root}/train and {root}/val have different class folders")
    subsets = []
    for data, limit, flag in ((train_set, spec.train_limit, "--train-limit"), (val_set, spec.val_limit, "--val-limit")):
        if limit is not None and not 1 <= limit <= len(data):
            raise UsageError(f"{flag} must be between 1 and {len(data)}, got {limit}")
        keep = np.arange(len(data)) if limit is None else np.sort(np.random.default_rng(spec.config.seed).permutation(len(data))[:limit])
        if spec.skip_bad_images:
            ok = readable([data.samples[i][0] for i in keep], spec.config.loader_workers)
            bad = [data.samples[i][0] for i, good in zip(keep, ok) if not good]
            keep = keep[np.array(ok, dtype=bool)]
            if bad:
                log(f"{PROG}: skipped {len(bad)} unreadable image(s) of {data.root} (first: {bad[0]})")
            if len(keep) == 0:
                raise DatasetError(f"no readable image left in {data.root}")
        subsets.append(Subset(data, keep.tolist()))
    return subsets[0], subsets[1], len(train_set.classes)


def _one_line(exc: DatasetError) -> DatasetError:
    """A DatasetError re-raised by a DataLoader worker carries the worker's traceback;
    its last line is the original message."""
    last = str(exc).strip().splitlines()[-1]
    return DatasetError(last.split("DatasetError: ", 1)[-1])


def run_transfer(spec: TransferSpec, device: torch.device, should_stop=None, data: tuple | None = None,
                 on_checkpoint: Callable[[], None] | None = None) -> tuple[TrainResult, dict | None]:
    """Train one genotype in this process (one of the group's, under DDP) on ``data``
    (``imagenet_data(spec)`` when not given). Returns the result and, on rank 0 of a run
    that was not preempted, the contents of the result.json it wrote."""
    train_set, val_set, num_classes = data if data is not None else imagenet_data(spec)
    genotype = parse_genotype(spec.arch)
    torch.manual_seed(spec.config.seed)
    net = NetworkImageNet(genotype, spec.init_channels, spec.layers, num_classes, auxiliary=spec.config.auxiliary_weight > 0)
    macs, params = count_complexity(NetworkImageNet(genotype, spec.init_channels, spec.layers, num_classes),
                                    InputSpec(3, spec.image_size, num_classes))
    rank, _ = distributed.rank_and_world()
    try:
        result = train(net, train_set, val_set, spec.config, device, out_dir=spec.out, resume=spec.resume,
                       should_stop=should_stop, log=print, on_checkpoint=on_checkpoint)
    except TrainingStateError as exc:
        raise UsageError(str(exc)) from None
    except DatasetError as exc:
        raise _one_line(exc) from None
    if result.preempted or rank != 0:
        return result, None
    return result, write_result(Path(spec.out), spec.describe, result, macs, params)


class TransferJob(submitit.helpers.Checkpointable):
    """A submitit job: join the job's process group, train one genotype, leave. On
    preemption or time-out submitit requeues it and it resumes from its checkpoint."""

    def __init__(self, spec: TransferSpec) -> None:
        self.spec = spec

    def __call__(self) -> dict | None:
        env = distributed.detect()
        device = distributed.init(env, _device_kind(self.spec.device))
        lock = _wait_for_lock(Path(self.spec.out)) if env.is_main else None
        try:
            return run_transfer(self.spec, device)[1]
        finally:
            if lock is not None:
                lock.release()
            distributed.cleanup()


def _wait_for_lock(folder: Path) -> RunLock:
    """The folder's lock, waiting up to LOCK_WAIT_SECONDS for the process that submitted
    the job (which holds it until every job is submitted)."""
    deadline = time.monotonic() + LOCK_WAIT_SECONDS
    while True:
        try:
            return RunLock(folder).acquire()
        except RunDirError:
            if time.monotonic() > deadline:
                raise
            time.sleep(1.0)


def _device_kind(name: str) -> str:
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return name


def build_parser() -> argparse.ArgumentParser:
    """The argument parser."""
    p = OneLineParser(
        prog=PROG,
        description="Train the ImageNet form of DARTS genotypes (--genotype, or Pareto members of a search run: --run "
        "--pick) with DDP: run under torchrun, or submit one job per genotype through submitit (--submit slurm).",
    )
    add_source_flags(p)
    p.add_argument("--data-dir", help="ImageNet-layout folder with train/<wnid>/ and val/<wnid>/")
    p.add_argument("--image-size", type=int, default=224, help="training and evaluation crop size (default 224)")
    p.add_argument("--init-channels", type=int, default=48, help="channels of the first cells (default 48, mobile setting)")
    p.add_argument("--layers", type=int, default=14, help="cells (default 14, mobile setting)")
    p.add_argument("--train-limit", type=int, help="train on this many training images (a seeded random subset)")
    p.add_argument("--val-limit", type=int, help="evaluate on this many validation images (a seeded random subset)")
    add_config_flags(p, IMAGENET_DEFAULTS)
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda (default auto)")
    p.add_argument("--out", default="runs/imagenet", help="output folder; several genotypes get one subfolder each "
                   "(default runs/imagenet)")
    p.add_argument("--resume", action="store_true", help="continue the run(s) in --out from their checkpoints")
    p.add_argument("--overwrite", action="store_true", help="replace runs already in --out")
    p.add_argument("--submit", choices=("none", "local", "slurm"), default="none",
                   help="none: train here (under torchrun for several processes); local or slurm: one submitit job "
                   "per genotype (local waits for them) (default none)")
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
    """One TransferSpec per chosen genotype, validated."""
    config = config_from_args(args, IMAGENET_DEFAULTS)
    if args.resume and args.overwrite:
        raise UsageError("--resume and --overwrite exclude each other")
    if args.data_dir is None:
        raise UsageError("--data-dir is required (a folder with train/<wnid>/ and val/<wnid>/)")
    missing = [split for split in ("train", "val") if not (Path(args.data_dir) / split).is_dir()]
    if missing:
        raise UsageError(f"--data-dir {args.data_dir} has no {missing[0]}/ folder (expected train/<wnid>/ and val/<wnid>/)")
    check_cells(args.init_channels, args.layers)
    if args.image_size < 32 or args.image_size % 32 or args.image_size > MAX_IMAGE_SIZE:
        raise UsageError(f"--image-size must be a multiple of 32 (the network halves it 5 times) up to {MAX_IMAGE_SIZE}, "
                         f"got {args.image_size}")
    out_root = out_path(args.out)
    check_cluster(args)
    if args.submit != "slurm":  # a SLURM job's device is on the cluster, not here
        usable_device(args.device)
    chosen = genotypes_from_args(args)
    specs = []
    for name, pick in chosen:
        describe = {
            "genotype": pick.arch, "run": args.run, "member": pick.index if args.run else None,
            "data_dir": args.data_dir, "image_size": args.image_size, "train_limit": args.train_limit,
            "val_limit": args.val_limit, "init_channels": args.init_channels, "layers": args.layers,
            "config": dataclasses.asdict(config),
        }
        out = out_root if len(chosen) == 1 else out_root / name
        specs.append(TransferSpec(name, pick.arch, str(out), args.data_dir, args.image_size, args.init_channels,
                                  args.layers, args.train_limit, args.val_limit, config, args.device, describe,
                                  args.resume, args.skip_bad_images))
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
        _slurm_options(args.slurm_option)
        if shutil.which("sbatch") is None:
            raise UsageError("--submit slurm needs SLURM, but sbatch is not on PATH; run on a SLURM login node")
    elif args.slurm_option or args.partition:
        raise UsageError("--slurm-option and --partition apply only with --submit slurm")


def _slurm_options(pairs: list[str]) -> dict:
    extra = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"--slurm-option {pair!r} is not KEY=VALUE")
        extra[key] = value
    return extra


def submit(specs: list[TransferSpec], args: argparse.Namespace) -> list:
    """Submit one submitit job per spec (``args.submit``: local or slurm); the jobs."""
    executor = submitit.AutoExecutor(folder=str(Path(args.out) / "submitit"), cluster=args.submit)
    tasks = max(1, args.gpus_per_node)
    parameters = {"name": PROG, "timeout_min": args.time, "nodes": args.nodes, "tasks_per_node": tasks,
                  "cpus_per_task": args.cpus_per_task}
    if args.gpus_per_node:
        parameters["gpus_per_node"] = args.gpus_per_node
    if args.submit == "slurm":
        parameters |= {"slurm_signal_delay_s": 120, "slurm_additional_parameters": _slurm_options(args.slurm_option)}
        if args.partition:
            parameters["slurm_partition"] = args.partition
    executor.update_parameters(**parameters)
    # Submitted jobs always resume: a requeued job finds its checkpoint, a new one starts fresh.
    return [executor.submit(TransferJob(dataclasses.replace(spec, resume=True))) for spec in specs]


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``experiments/transfer_imagenet.py`` and the ``monas-transfer`` console script."""

    def work() -> int:
        args = build_parser().parse_args(argv)
        if args.list:
            print(listing(args, genotypes_from_args(args)))
            return 0
        specs = specs_from_args(args)
        env = distributed.detect()
        say = print if env.is_main else (lambda line: None)
        data = imagenet_data(specs[0], log=say)  # every genotype trains on the same images
        per_process = len(data[0]) // env.world_size
        if specs[0].config.batch_size > per_process:
            raise UsageError(f"--batch-size {specs[0].config.batch_size} is larger than the {per_process} training "
                             "images per process")
        for spec in specs:
            check_network_size(lambda: NetworkImageNet(parse_genotype(spec.arch), spec.init_channels, spec.layers,
                                                       data[2], auxiliary=spec.config.auxiliary_weight > 0), spec.name)
        plans = [plan_out(Path(spec.out), spec.describe, args.resume, args.overwrite) for spec in specs]
        for spec, plan in zip(specs, plans):
            if plan.finished:
                say(f"{PROG}: {spec.name}: already finished ({Path(spec.out) / RESULT}); nothing to do")
        todo = [(spec, plan) for spec, plan in zip(specs, plans) if not plan.finished]
        if not todo:
            return 0
        start = started_runs([plan for _, plan in todo], [spec.describe for spec, _ in todo])
        if args.submit != "none":
            with start as starts:
                jobs = submit([spec for spec, _ in todo], args)
                for run_start in starts.values():
                    run_start.start()  # the jobs take the folders' locks once this process lets them go
            for (spec, _), job in zip(todo, jobs):
                print(f"{PROG}: {spec.name}: job {job.job_id}, output in {spec.out}", flush=True)
            if args.submit == "local":
                for (spec, _), job in zip(todo, jobs):
                    summary = job.result()
                    print(f"{PROG}: {spec.name}: top-1 {summary['test_accuracy']:.2f}%  top-5 {summary['test_top5']:.2f}%",
                          flush=True)
            return 0
        device = distributed.init(env, _device_kind(args.device))
        try:
            with (start if env.is_main else contextlib.nullcontext({})) as starts, \
                    distributed.PreemptionFlag() as preempted:
                if dist.is_initialized():
                    dist.barrier()  # the output folders are ready
                for spec, _ in todo:
                    run_start = starts.get(Path(spec.out))
                    result, summary = run_transfer(spec, device, should_stop=preempted, data=data,
                                                   on_checkpoint=None if run_start is None else run_start.start)
                    if result.preempted:
                        if env.is_main:
                            print(f"{PROG}: preempted; checkpoint in {spec.out}; continue with --resume", file=sys.stderr)
                        return 130
                    if summary is not None:
                        print(f"{PROG}: {spec.name}: top-1 {summary['test_accuracy']:.2f}%  top-5 {summary['test_top5']:.2f}%  "
                              f"{summary['params'] / 1e6:.2f}M params  {summary['macs'] / 1e6:.1f}M MACs; {Path(spec.out) / RESULT}",
                              flush=True)
        finally:
            distributed.cleanup()
        return 0

    return run_command(PROG, work, "continue with --resume")
