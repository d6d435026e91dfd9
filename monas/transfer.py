"""The work of the ``transfer_imagenet`` command (``monas.transfer_cli``) once its
flags are checked: the ImageNet data, training one genotype under DDP, and submitting
one submitit job per genotype. Kept apart from the command's parser because it imports
torch, torchvision and submitit, which take seconds."""
from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import numpy as np
import submitit
import torch
import torch.distributed as dist
from torch.utils.data import Subset

from monas import distributed
from monas.augment import imagenet_eval_transform, imagenet_train_transform
from monas.cli import UsageError
from monas.complexity import count_complexity
from monas.train import TrainingStateError, TrainResult, train
from monas.train_cli import RESULT, prepare_out, write_result
from monas.transfer_cli import PROG, TransferSpec
from search_spaces.base import InputSpec
from search_spaces.darts.genotypes import parse_genotype
from search_spaces.darts.model import NetworkImageNet


def imagenet_data(spec: TransferSpec) -> tuple[Subset, Subset, int]:
    """(train, val, number of classes) ImageFolder datasets of ``spec.data_dir`` with the
    ImageNet transforms; limits take seeded random subsets."""
    import torchvision

    root = Path(spec.data_dir)
    folders = []
    for split, transform in (
        ("train", imagenet_train_transform(spec.image_size, flip=spec.config.flip, cutout=spec.config.cutout,
                                           randaugment=spec.config.randaugment)),
        ("val", imagenet_eval_transform(spec.image_size)),
    ):
        try:
            folders.append(torchvision.datasets.ImageFolder(str(root / split), transform=transform))
        except (FileNotFoundError, RuntimeError) as exc:
            raise UsageError(f"{root / split} is not an ImageFolder tree (<wnid>/<image> per class): {exc}") from None
    train_set, val_set = folders
    if train_set.classes != val_set.classes:
        raise UsageError(f"{root}/train and {root}/val have different class folders")
    subsets = []
    for data, limit, flag in ((train_set, spec.train_limit, "--train-limit"), (val_set, spec.val_limit, "--val-limit")):
        if limit is not None and not 1 <= limit <= len(data):
            raise UsageError(f"{flag} must be between 1 and {len(data)}, got {limit}")
        keep = np.arange(len(data)) if limit is None else np.sort(np.random.default_rng(spec.config.seed).permutation(len(data))[:limit])
        subsets.append(Subset(data, keep.tolist()))
    return subsets[0], subsets[1], len(train_set.classes)


def run_transfer(spec: TransferSpec, device: torch.device, should_stop=None) -> tuple[TrainResult, dict | None]:
    """Train one genotype in this process (one of the group's, under DDP). Returns the
    result and, on rank 0 of a run that was not preempted, the contents of the
    result.json it wrote."""
    train_set, val_set, num_classes = imagenet_data(spec)
    genotype = parse_genotype(spec.arch)
    torch.manual_seed(spec.config.seed)
    net = NetworkImageNet(genotype, spec.init_channels, spec.layers, num_classes, auxiliary=spec.config.auxiliary_weight > 0)
    macs, params = count_complexity(NetworkImageNet(genotype, spec.init_channels, spec.layers, num_classes),
                                    InputSpec(3, spec.image_size, num_classes))
    rank, _ = distributed.rank_and_world()
    try:
        result = train(net, train_set, val_set, spec.config, device, out_dir=spec.out, resume=spec.resume,
                       should_stop=should_stop, log=print)
    except TrainingStateError as exc:
        raise UsageError(str(exc)) from None
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
        try:
            return run_transfer(self.spec, device)[1]
        finally:
            distributed.cleanup()


def _device_kind(name: str) -> str:
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return name


def submit(specs: list[TransferSpec], args: argparse.Namespace) -> list:
    """Submit one submitit job per spec (``args.submit``: local or slurm); the jobs."""
    executor = submitit.AutoExecutor(folder=str(Path(args.out) / "submitit"), cluster=args.submit)
    tasks = max(1, args.gpus_per_node)
    parameters = {"name": PROG, "timeout_min": args.time, "nodes": args.nodes, "tasks_per_node": tasks,
                  "cpus_per_task": args.cpus_per_task}
    if args.gpus_per_node:
        parameters["gpus_per_node"] = args.gpus_per_node
    if args.submit == "slurm":
        extra = {}
        for pair in args.slurm_option:
            key, sep, value = pair.partition("=")
            if not sep:
                raise UsageError(f"--slurm-option {pair!r} is not KEY=VALUE")
            extra[key] = value
        parameters |= {"slurm_signal_delay_s": 120, "slurm_additional_parameters": extra}
        if args.partition:
            parameters["slurm_partition"] = args.partition
    elif args.nodes != 1:
        raise UsageError("--submit local runs on this machine; --nodes must be 1")
    executor.update_parameters(**parameters)
    # Submitted jobs always resume: a requeued job finds its checkpoint, a new one starts fresh.
    return [executor.submit(TransferJob(dataclasses.replace(spec, resume=True))) for spec in specs]


def run_specs(specs: list[TransferSpec], args: argparse.Namespace) -> int:
    """Prepare the output folders, then submit the jobs (``--submit``) or train every
    spec here (under torchrun: in every process of the group); the exit code."""
    env = distributed.detect()
    if env.is_main:
        for spec in specs:
            prepare_out(Path(spec.out), spec.describe, args.resume, args.overwrite)
    if args.submit != "none":
        jobs = submit(specs, args)
        for spec, job in zip(specs, jobs):
            print(f"{PROG}: {spec.name}: job {job.job_id}, output in {spec.out}", flush=True)
        if args.submit == "local":
            for spec, job in zip(specs, jobs):
                summary = job.result()
                print(f"{PROG}: {spec.name}: top-1 {summary['test_accuracy']:.2f}%  top-5 {summary['test_top5']:.2f}%",
                      flush=True)
        return 0
    device = distributed.init(env, _device_kind(args.device))
    try:
        with distributed.PreemptionFlag() as preempted:
            if dist.is_initialized():
                dist.barrier()  # the output folders are ready
            for spec in specs:
                result, summary = run_transfer(spec, device, should_stop=preempted)
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
