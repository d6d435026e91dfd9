"""The one training recipe: full training of a network, in a single process or under
DistributedDataParallel, with exact resume.

``train`` runs SGD with momentum, a warm-up then cosine (or linear) decay of the
learning rate, label smoothing, drop-path, the auxiliary head's loss, gradient
clipping, MixUp/CutMix and per-image augmentation (``monas.train.augmentation``); on CUDA with
automatic mixed precision (float16 and a gradient scaler) and channels-last tensors,
on CPU in float32. It evaluates every ``eval_every`` epochs (top-1 and top-5 accuracy,
loss), can stop early on a learning-curve prediction, and, given ``out_dir``, writes
``metrics.csv`` (TensorBoard events too when tensorboard is installed) and
``checkpoint.pt`` after every epoch, every ``checkpoint_every_steps`` steps and when
preempted. ``resume=True`` continues from that checkpoint exactly: same weights,
optimizer, gradient scaler, step, random generators (torch, CUDA, numpy, python, per
process) and data order, so on CPU a resumed run ends bit-identical to an
uninterrupted one.

A checkpoint holds data only (tensors, dicts, lists, strings, numbers, booleans and
None; the numpy and python generator states converted to these) and is read with
``torch.load(weights_only=True)``, so resuming a run folder never runs code from it.
"""
from __future__ import annotations

import csv
import io
import math
import os
import pickle
import random
import signal
import time
import zipfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from monas.train.augmentation import (
    BatchMixer,
    SeededSamples,
    TensorImages,
    small_image_eval_transform,
    small_image_train_transform,
)
from monas.train.distributed import rank_and_world
from monas.io import atomic_write, refuse_links
from monas.train.config import (  # noqa: F401 - re-exported
    CHECKPOINT,
    MAX_BATCH,
    MAX_EPOCHS,
    MAX_LOADER_WORKERS,
    MAX_SECONDS,
    MAX_SEED,
    METRICS,
    RESUMABLE_CHANGES,
    TENSORBOARD,
    TrainConfig,
)

CHECKPOINT_FORMAT = "monas-train-2"  # monas-train-1 pickled numpy and python objects
METRIC_COLUMNS = ("epoch", "step", "lr", "train_loss", "loss", "accuracy", "top5", "train_seconds")
_STOP_SYNC_EVERY = 10  # steps between agreements of all processes on a preemption signal


class TrainingStateError(ValueError):
    """A checkpoint that cannot be resumed as asked; the message says why."""


class Stopper(Protocol):
    """Learning-curve early stopping (``monas.train.curves.CurveStopper``)."""

    prediction: float | None

    def update(self, epoch: float, accuracy: float) -> bool:
        """Record an evaluation; True when training should stop now."""


@dataclass
class TrainResult:
    """What a training run reached. Accuracies in %; ``history`` holds one row per
    evaluation (``METRIC_COLUMNS``: epoch as a float, step, learning rate, mean training
    loss since the previous evaluation, test loss, top-1, top-5, training seconds)."""

    test_accuracy: float
    test_top5: float
    test_loss: float
    history: list[dict] = field(default_factory=list)
    epochs: float = 0.0
    steps: int = 0
    seconds: float = 0.0  # wall-clock of training and evaluation, over all resumptions
    train_seconds: float = 0.0  # of training alone (what time_budget counts)
    stopped_early: bool = False  # by the learning-curve stopper
    prediction: float | None = None  # the stopper's predicted final accuracy
    preempted: bool = False  # stopped by should_stop; resume to continue


class ResumableSampler(DistributedSampler):
    """DistributedSampler (reshuffled per epoch from ``seed``; each process its share)
    that can start an epoch part-way and yields ``(index, seed)`` pairs for
    ``SeededSamples``: each image's augmentation seed depends on the epoch and the image."""

    def __init__(self, dataset: Dataset, num_replicas: int, rank: int, seed: int) -> None:
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=True, seed=seed)
        self.start = 0

    def set_position(self, epoch: int, start: int) -> None:
        """Begin epoch ``epoch`` at this process's ``start``-th sample."""
        self.set_epoch(epoch)
        self.start = start

    def __iter__(self):
        for index in list(super().__iter__())[self.start :]:
            yield index, ((self.seed * 1_000_003 + self.epoch) * 10_000_019 + index) % 2**63

    def __len__(self) -> int:
        return self.num_samples - self.start


TrainData = Dataset | tuple[torch.Tensor, torch.Tensor]


def train(
    model: nn.Module,
    train_data: TrainData,
    test_data: TrainData,
    config: TrainConfig,
    device: torch.device,
    *,
    out_dir: str | os.PathLike | None = None,
    resume: bool = False,
    stopper: Stopper | None = None,
    on_eval: Callable[[dict], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    log: Callable[[str], None] | None = None,
    on_checkpoint: Callable[[], None] | None = None,
) -> TrainResult:
    """Train ``model`` (in place) with ``config`` and evaluate it on ``test_data``.

    Data: either ``(uint8 images (N, C, H, W), labels)`` tensors for both splits, which
    get ``config``'s augmentation and are normalised by the training images' channel
    statistics, or two datasets yielding ``(float image, label)`` with their transforms
    applied (the training one must be random-access and gets the seeded sampler).

    ``model`` has a linear ``classifier`` (as every search space's networks do; its
    width is the number of classes MixUp/CutMix encode) and may return
    ``(logits, auxiliary logits)`` in training mode (the DARTS networks' auxiliary head).

    In a process group (torchrun, submitit; see ``monas.train.distributed``) the model is
    wrapped in DistributedDataParallel, each process reads its share of every epoch and
    evaluation, and only rank 0 writes files, prints and calls ``on_eval``, while every
    process calls ``stopper.update`` with the same all-reduced accuracy. The
    training randomness is seeded from ``config.seed`` and the rank (weights are the
    caller's; DDP copies rank 0's to all).

    ``stopper.update(epoch, accuracy)`` is called after each evaluation; True stops
    training (``stopped_early``, ``prediction`` recorded). ``on_eval(row)`` gets each
    history row; ``on_checkpoint()`` is called (on rank 0) after each checkpoint is
    written. ``should_stop()`` is polled between steps (by all processes together
    every few steps under DDP): when true, a checkpoint is written at the current step
    and the result comes back with ``preempted=True``. ``resume=True`` continues from
    ``out_dir``'s checkpoint when there is one (a finished run returns its result
    without training); TrainingStateError when that checkpoint was made with other
    settings (other than ``RESUMABLE_CHANGES``) or another number of processes, or is
    not a checkpoint of this format. RunDirError when ``out_dir`` or a file it writes
    there is a symbolic link.
    """
    config.validate()
    rank, world = rank_and_world()
    out = Path(out_dir) if out_dir is not None else None
    if out is not None and rank == 0:
        out.mkdir(parents=True, exist_ok=True)
        refuse_links(out, (CHECKPOINT, METRICS, TENSORBOARD))
        refuse_links(out / TENSORBOARD)
    train_set, test_set = _datasets(train_data, test_data, config)
    use_cuda = device.type == "cuda"
    amp = config.amp and use_cuda
    memory_format = torch.channels_last if config.channels_last and use_cuda else torch.contiguous_format

    module = model.to(device, memory_format=memory_format)
    net = DistributedDataParallel(module, device_ids=[device.index] if use_cuda else None) if world > 1 else module
    optimizer = torch.optim.SGD(
        module.parameters(), lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay
    )
    scaler = torch.amp.GradScaler("cuda", enabled=amp)
    mixer = BatchMixer(config.mixup, config.cutmix, module.classifier.out_features)

    sampler = ResumableSampler(train_set, world, rank, config.seed)
    steps_per_epoch = sampler.num_samples // config.batch_size
    if steps_per_epoch == 0:
        raise ValueError(f"{sampler.num_samples} training images per process are fewer than a batch of {config.batch_size}")
    loader_options = {"num_workers": config.loader_workers, "pin_memory": use_cuda}
    train_loader = DataLoader(SeededSamples(train_set), batch_size=config.batch_size, sampler=sampler, drop_last=True,
                              generator=torch.Generator(), **loader_options)
    test_loader = DataLoader(test_set, batch_size=config.eval_batch_size, sampler=range(rank, len(test_set), world),
                             generator=torch.Generator(), **loader_options)
    total_steps = config.epochs * steps_per_epoch
    eval_interval = max(1, round(config.eval_every * steps_per_epoch))

    _seed_everything(config.seed, rank)
    state = _Progress()
    if resume and out is not None and (out / CHECKPOINT).exists():
        saved = _read_checkpoint(out / CHECKPOINT, config, world, device)
        try:
            module.load_state_dict(saved["model"])
            optimizer.load_state_dict(saved["optimizer"])
            scaler.load_state_dict(saved["scaler"])
            state = _Progress(**saved["progress"])
            _set_rng_state(saved["rng"][rank], device)
        except (KeyError, IndexError, TypeError, ValueError, RuntimeError) as exc:
            raise TrainingStateError(f"{out / CHECKPOINT} does not fit this network and run ({type(exc).__name__}); "
                                     "start again with --overwrite") from None
        if stopper is not None:
            for row in state.history:
                stopper.update(row["epoch"], row["accuracy"])
        if state.finished:
            return state.result(steps_per_epoch, stopper)
    metrics = _MetricsWriter(out, state.step) if out is not None and rank == 0 else None
    say = log if log is not None and rank == 0 else (lambda line: None)

    def save_checkpoint() -> None:
        if out is None:
            return
        state.loss_sum = float(state.loss_sum)
        rng = _gather(_rng_state(device), world)
        if rank == 0:
            payload = {
                "format": CHECKPOINT_FORMAT,
                "config": asdict(config),
                "world_size": world,
                "model": module.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scaler": scaler.state_dict(),
                "progress": asdict(state),
                "rng": rng,
            }
            buffer = io.BytesIO()
            torch.save(payload, buffer)
            atomic_write(out / CHECKPOINT, buffer.getvalue())
            if on_checkpoint is not None:
                on_checkpoint()

    def evaluate_now() -> bool:
        """Evaluate, record, consult the stopper; True when it says stop."""
        loss, top1, top5 = evaluate(module, test_loader, device, amp, memory_format)
        train_loss = _all_mean(state.loss_sum, state.loss_count, device)
        if not math.isfinite(train_loss):
            raise FloatingPointError(f"training diverged: mean loss {train_loss} before step {state.step}")
        row = {"epoch": state.step / steps_per_epoch, "step": state.step, "lr": lr, "train_loss": train_loss,
               "loss": loss, "accuracy": top1, "top5": top5, "train_seconds": state.train_seconds}
        state.history.append(row)
        state.loss_sum, state.loss_count = 0.0, 0
        say(f"epoch {row['epoch']:.2f}  step {state.step}  lr {lr:.4g}  train loss {train_loss:.4f}  "
            f"test loss {loss:.4f}  top-1 {top1:.2f}%  top-5 {top5:.2f}%  {state.train_seconds:.0f}s")
        if metrics is not None:
            metrics.write(state.history)
        if on_eval is not None and rank == 0:
            on_eval(row)
        return stopper is not None and stopper.update(row["epoch"], top1)

    def progress_now() -> float:
        if config.time_budget is not None:
            return state.train_seconds / config.time_budget
        return state.step / total_steps

    def limit_reached() -> str | None:
        if state.step >= (config.max_steps or math.inf):
            return "max_steps"
        if config.time_budget is None and state.step >= total_steps:
            return "epochs"
        if config.time_budget is not None and state.train_seconds >= config.time_budget:
            return "budget"
        return None

    wall_start = time.perf_counter() - state.seconds
    lr = config.lr_at(min(1.0, progress_now()))
    stop_reason = limit_reached()
    net.train()
    while stop_reason is None:
        epoch, position = divmod(state.step, steps_per_epoch)
        sampler.set_position(epoch, position * config.batch_size)
        clock = time.perf_counter()
        for images, labels in train_loader:
            lr = config.lr_at(min(1.0, progress_now()))
            for group in optimizer.param_groups:
                group["lr"] = lr
            if hasattr(module, "drop_path_prob"):
                module.drop_path_prob = config.drop_path * min(1.0, progress_now())
            images = images.to(device, non_blocking=True, memory_format=memory_format)
            labels = labels.to(device, non_blocking=True)
            images, targets = mixer(images, labels)
            with torch.autocast(device.type, dtype=torch.float16, enabled=amp):
                loss = recipe_loss(net(images), targets, config)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            if config.grad_clip:
                scaler.unscale_(optimizer)
                nn.utils.clip_grad_norm_(module.parameters(), config.grad_clip)
            scaler.step(optimizer)
            scaler.update()
            state.step += 1
            state.loss_sum += loss.detach().float()
            state.loss_count += 1
            now = time.perf_counter()
            state.train_seconds += now - clock
            clock = now

            if world == 1 or config.time_budget is not None or state.step % _STOP_SYNC_EVERY == 0:
                signalled, state.train_seconds = _agree(should_stop is not None and should_stop(), state.train_seconds, device)
                if signalled:
                    stop_reason = "preempted"
            stop_reason = stop_reason or limit_reached()
            if state.step % eval_interval == 0:
                if evaluate_now():
                    state.stopped_early = True
                    stop_reason = "curve"
                net.train()
            if stop_reason is None and (
                state.step % steps_per_epoch == 0
                or (config.checkpoint_every_steps and state.step % config.checkpoint_every_steps == 0)
            ):
                state.seconds = time.perf_counter() - wall_start
                save_checkpoint()
            _injected_kill(state.step)
            clock = time.perf_counter()
            if stop_reason is not None or state.step % steps_per_epoch == 0:
                break

    if stop_reason != "preempted":  # a preempted run is evaluated where it ends, after resuming
        if not state.history or state.history[-1]["step"] != state.step:
            evaluate_now()
        state.finished = True
    state.seconds = time.perf_counter() - wall_start
    save_checkpoint()
    if metrics is not None:
        metrics.close()
    result = state.result(steps_per_epoch, stopper)
    result.preempted = stop_reason == "preempted"
    return result


def recipe_loss(output: torch.Tensor | tuple[torch.Tensor, torch.Tensor], targets: torch.Tensor,
                config: TrainConfig) -> torch.Tensor:
    """Cross-entropy with ``label_smoothing`` (targets: labels or MixUp/CutMix soft
    targets), plus ``auxiliary_weight`` times the auxiliary head's when the network
    returned ``(logits, auxiliary logits)``."""
    logits, auxiliary = output if isinstance(output, tuple) else (output, None)
    loss = F.cross_entropy(logits, targets, label_smoothing=config.label_smoothing)
    if auxiliary is not None:
        loss = loss + config.auxiliary_weight * F.cross_entropy(auxiliary, targets, label_smoothing=config.label_smoothing)
    return loss


@torch.inference_mode()
def evaluate(
    model: nn.Module,
    loader: DataLoader,
    device: torch.device,
    amp: bool = False,
    memory_format: torch.memory_format = torch.contiguous_format,
) -> tuple[float, float, float]:
    """(mean loss, top-1 %, top-5 %) of ``model`` in eval mode over ``loader``'s images,
    summed over all processes of the group (each reading its share). Under DDP every
    process first takes rank 0's batch-norm statistics."""
    if dist.is_initialized():
        for buffer in model.buffers():
            dist.broadcast(buffer, 0)
    model.eval()
    sums = torch.zeros(4, dtype=torch.float64, device=device)  # loss, top-1, top-5, images
    for images, labels in loader:
        images = images.to(device, non_blocking=True, memory_format=memory_format)
        labels = labels.to(device, non_blocking=True)
        with torch.autocast(device.type, dtype=torch.float16, enabled=amp):
            logits = model(images)
        logits = logits.float()
        top = logits.topk(min(5, logits.shape[1]), dim=1).indices
        hits = top == labels[:, None]
        sums += torch.stack([
            F.cross_entropy(logits, labels, reduction="sum").double(),
            hits[:, 0].sum().double(),
            hits.any(dim=1).sum().double(),
            torch.tensor(len(labels), dtype=torch.float64, device=device),
        ])
    if dist.is_initialized():
        dist.all_reduce(sums)
    loss, top1, top5, n = sums.tolist()
    if n == 0:
        raise ValueError("no test images to evaluate")
    return loss / n, 100.0 * top1 / n, 100.0 * top5 / n


@dataclass
class _Progress:
    """Everything of a run's progress that a checkpoint must restore."""

    step: int = 0
    seconds: float = 0.0
    train_seconds: float = 0.0
    loss_sum: float = 0.0
    loss_count: int = 0
    history: list = field(default_factory=list)
    stopped_early: bool = False
    finished: bool = False

    def result(self, steps_per_epoch: int, stopper: Stopper | None) -> TrainResult:
        last = self.history[-1] if self.history else {"accuracy": math.nan, "top5": math.nan, "loss": math.nan}
        return TrainResult(
            test_accuracy=last["accuracy"],
            test_top5=last["top5"],
            test_loss=last["loss"],
            history=list(self.history),
            epochs=self.step / steps_per_epoch,
            steps=self.step,
            seconds=self.seconds,
            train_seconds=self.train_seconds,
            stopped_early=self.stopped_early,
            prediction=None if stopper is None else stopper.prediction,
        )


def _datasets(train_data: TrainData, test_data: TrainData, config: TrainConfig) -> tuple[Dataset, Dataset]:
    if isinstance(train_data, Dataset) != isinstance(test_data, Dataset):
        raise TypeError("train_data and test_data must both be datasets or both (images, labels) tensors")
    if isinstance(train_data, Dataset):
        return train_data, test_data
    images, labels = train_data
    if images.dtype != torch.uint8 or images.ndim != 4:
        raise TypeError("image tensors must be uint8 (N, C, H, W)")
    pixels = images.float().div_(255.0)
    mean = pixels.mean(dim=(0, 2, 3)).tolist()
    std = pixels.std(dim=(0, 2, 3)).clamp_min(1e-6).tolist()
    augment = small_image_train_transform(images.shape[-1], mean, std, flip=config.flip, crop_padding=config.crop_padding,
                                          cutout=config.cutout, randaugment=config.randaugment)
    return TensorImages(images, labels, augment), TensorImages(*test_data, small_image_eval_transform(mean, std))


def _seed_everything(seed: int, rank: int) -> None:
    seed = seed * 1_000 + rank
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _rng_state(device: torch.device) -> dict:
    """Every generator's state as tensors and plain data (what weights-only loading
    accepts): numpy's MT19937 key as an int64 tensor, python's state as a list."""
    numpy_state = np.random.get_state(legacy=False)
    version, internal, gauss_next = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state(device) if device.type == "cuda" else None,
        "numpy": {
            "bit_generator": numpy_state["bit_generator"],
            "key": torch.from_numpy(numpy_state["state"]["key"].astype(np.int64)),
            "pos": int(numpy_state["state"]["pos"]),
            "has_gauss": int(numpy_state["has_gauss"]),
            "gauss": float(numpy_state["gauss"]),
        },
        "python": {"version": version, "internal": list(internal), "gauss_next": gauss_next},
    }


def _set_rng_state(saved: dict, device: torch.device) -> None:
    torch.set_rng_state(saved["torch"])
    if device.type == "cuda" and saved["cuda"] is not None:
        torch.cuda.set_rng_state(saved["cuda"], device)
    numpy_state = saved["numpy"]
    np.random.set_state({
        "bit_generator": numpy_state["bit_generator"],
        "state": {"key": numpy_state["key"].numpy().astype(np.uint32), "pos": numpy_state["pos"]},
        "has_gauss": numpy_state["has_gauss"],
        "gauss": numpy_state["gauss"],
    })
    python_state = saved["python"]
    random.setstate((python_state["version"], tuple(python_state["internal"]), python_state["gauss_next"]))


def _gather(obj: dict, world: int) -> list:
    if world == 1:
        return [obj]
    gathered = [None] * world
    dist.all_gather_object(gathered, obj)
    return gathered


def _all_mean(total: float | torch.Tensor, count: int, device: torch.device) -> float:
    values = torch.tensor([float(total), float(count)], dtype=torch.float64, device=device)
    if dist.is_initialized():
        dist.all_reduce(values)
    return float(values[0] / values[1]) if values[1] else math.nan


def _agree(signalled: bool, seconds: float, device: torch.device) -> tuple[bool, float]:
    """Whether any process of the group was signalled, and the longest training time
    of any, so that all processes follow the same schedule and stop at the same step."""
    if not dist.is_initialized():
        return signalled, seconds
    values = torch.tensor([float(signalled), seconds], dtype=torch.float64, device=device)
    dist.all_reduce(values, op=dist.ReduceOp.MAX)
    return bool(values[0]), float(values[1])


def _read_checkpoint(path: Path, config: TrainConfig, world: int, device: torch.device) -> dict:
    """The checkpoint at ``path``, loaded weights-only (no object of the file is built
    by running code), checked against ``config`` and the number of processes."""
    try:
        if not zipfile.is_zipfile(path):  # what torch.save writes; anything else is damaged or foreign
            raise ValueError("not a torch.save archive")
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise TrainingStateError(
            f"{path} holds objects other than tensors and plain data: a checkpoint of an older monas format "
            f"(before {CHECKPOINT_FORMAT}) or not a monas checkpoint; monas does not load it (start again with --overwrite)"
        ) from None
    except Exception as exc:  # noqa: BLE001 - any unreadable file means the same to the user
        raise TrainingStateError(f"{path} is not a readable checkpoint ({type(exc).__name__})") from None
    if not isinstance(saved, dict) or not isinstance(saved.get("config"), dict) or saved.get("format") != CHECKPOINT_FORMAT:
        found = saved.get("format") if isinstance(saved, dict) else None
        raise TrainingStateError(f"{path} is not a monas training checkpoint of format {CHECKPOINT_FORMAT} (found {found!r}); "
                                 "start again with --overwrite")
    now = asdict(config)
    changed = [f.name for f in fields(TrainConfig) if f.name not in RESUMABLE_CHANGES and saved["config"].get(f.name) != now[f.name]]
    if changed:
        name = changed[0]
        raise TrainingStateError(f"{path} was trained with {name}={saved['config'].get(name)!r}, not {now[name]!r}; "
                                 "resume with the run's own settings")
    if saved.get("world_size") != world:
        raise TrainingStateError(f"{path} was written by {saved.get('world_size')} processes; resume with as many, not {world}")
    return saved


def _injected_kill(step: int) -> None:
    """Fault injection for the kill tests: ``MONAS_KILL_AT_STEP=<n>`` SIGKILLs the process
    right after step n (and after any checkpoint written there)."""
    if os.environ.get("MONAS_KILL_AT_STEP") == str(step):
        os.kill(os.getpid(), signal.SIGKILL)


class _MetricsWriter:
    """metrics.csv, rewritten atomically after each evaluation, and TensorBoard events
    when tensorboard is installed."""

    def __init__(self, out: Path, step: int) -> None:
        self.path = out / METRICS
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            self.board = None
        else:
            self.board = SummaryWriter(str(out / TENSORBOARD), purge_step=step or None)

    def write(self, history: list[dict]) -> None:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=METRIC_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(history)
        atomic_write(self.path, buffer.getvalue())
        if self.board is not None:
            row = history[-1]
            for key in ("lr", "train_loss", "loss", "accuracy", "top5"):
                self.board.add_scalar(key, row[key], row["step"])
            self.board.flush()

    def close(self) -> None:
        """Close the TensorBoard writer (and its background thread)."""
        if self.board is not None:
            self.board.close()
