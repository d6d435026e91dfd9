"""The work of the ``transfer_imagenet`` command (``monas.cli.transfer``) once its
flags are checked: the ImageNet data (with ``--skip-bad-images``, every chosen image
decoded once up front), training one architecture under DDP, and submitting one
submitit job per architecture. Kept apart from the command's parser because it imports
torch, torchvision and submitit, which take seconds; what the two share is in
``monas.cli.transfer_spec``."""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import submitit
import torch
import torch.distributed as dist
from torch.utils.data import Subset

from monas.cli.common import OutPolicy, UsageError, key_values
from monas.cli.training import RESULT, check_network_size, limit_subset, plan_out, started_runs, write_result
from monas.cli.transfer_spec import PROG, TransferSpec
from monas.complexity import count_complexity
from monas.data import DatasetError, read_rgb
from monas.device import resolve_device
from monas.io import RunDirError, RunLock
from monas.train import distributed
from monas.train.augmentation import imagenet_eval_transform, imagenet_train_transform
from monas.train.loop import TrainingStateError, TrainResult, train
from search_spaces.base import InputSpec

LOCK_WAIT_SECONDS = 120  # a submitted job waits this long for the submitting process to release the folder


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
        keep = limit_subset(len(data), limit, spec.config.seed, flag)
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
    """Train one architecture in this process (one of the group's, under DDP) on ``data``
    (``imagenet_data(spec)`` when not given). Returns the result and, on rank 0 of a run
    that was not preempted, the contents of the result.json it wrote."""
    train_set, val_set, num_classes = data if data is not None else imagenet_data(spec)
    torch.manual_seed(spec.config.seed)
    net = spec.build(num_classes, auxiliary=spec.config.auxiliary_weight > 0)
    macs, params = count_complexity(spec.build(num_classes), InputSpec(3, spec.image_size, num_classes))
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
    """A submitit job: join the job's process group, train one architecture, leave. On
    preemption or time-out submitit requeues it and it resumes from its checkpoint."""

    def __init__(self, spec: TransferSpec) -> None:
        self.spec = spec

    def __call__(self) -> dict | None:
        env = distributed.detect()
        device = distributed.init(env, resolve_device(self.spec.device))
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


def submit(specs: list[TransferSpec], args: argparse.Namespace) -> list:
    """Submit one submitit job per spec (``args.submit``: local or slurm); the jobs."""
    executor = submitit.AutoExecutor(folder=str(Path(args.out) / "submitit"), cluster=args.submit)
    tasks = max(1, args.gpus_per_node)
    parameters = {"name": PROG, "timeout_min": args.time, "nodes": args.nodes, "tasks_per_node": tasks,
                  "cpus_per_task": args.cpus_per_task}
    if args.gpus_per_node:
        parameters["gpus_per_node"] = args.gpus_per_node
    if args.submit == "slurm":
        parameters |= {"slurm_signal_delay_s": 120, "slurm_additional_parameters": key_values(args.slurm_option, "--slurm-option")}
        if args.partition:
            parameters["slurm_partition"] = args.partition
    executor.update_parameters(**parameters)
    # Submitted jobs always resume: a requeued job finds its checkpoint, a new one starts fresh.
    return [executor.submit(TransferJob(dataclasses.replace(spec, resume=True))) for spec in specs]


def run_specs(specs: list[TransferSpec], args: argparse.Namespace, policy: OutPolicy) -> int:
    """Decode-check the data and the network sizes, plan every output folder with
    ``policy`` (nothing written before all pass), then submit the jobs (``--submit``) or
    train every spec here (under torchrun: in every process of the group); the exit code."""
    env = distributed.detect()
    say = print if env.is_main else (lambda line: None)
    data = imagenet_data(specs[0], log=say)  # every architecture trains on the same images
    per_process = len(data[0]) // env.world_size
    if specs[0].config.batch_size > per_process:
        raise UsageError(f"--batch-size {specs[0].config.batch_size} is larger than the {per_process} training "
                         "images per process")
    for spec in specs:
        check_network_size(lambda: spec.build(data[2], auxiliary=spec.config.auxiliary_weight > 0), spec.name)
    plans = [plan_out(Path(spec.out), spec.describe, policy, PROG) for spec in specs]
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
    device = distributed.init(env, resolve_device(args.device))
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
