"""The one training recipe: full training of a network, in a single process or under
DistributedDataParallel, with exact resume.

A ``Trainer`` runs SGD with momentum, a warm-up then cosine (or linear) decay of the
learning rate, label smoothing, drop-path, the auxiliary head's loss, gradient
clipping, MixUp/CutMix and per-image augmentation (``monas.train.augmentation``); on CUDA with
automatic mixed precision (float16 and a gradient scaler) and channels-last tensors,
on CPU in float32. It evaluates every ``eval_every`` epochs (top-1 and top-5 accuracy,
loss), can stop early on a learning-curve prediction, and, given ``out_dir``, writes
``metrics.csv`` (TensorBoard events too when tensorboard is installed;
``monas.train.metrics``) and ``checkpoint.pt`` (``monas.train.checkpoint``) after every
epoch, every ``checkpoint_every_steps`` steps and when preempted. ``restore()`` continues
from that checkpoint exactly: same weights, optimizer, gradient scaler, step, random
generators (torch, CUDA, numpy, python, per process) and data order
(``monas.train.data``), so on CPU a resumed run ends bit-identical to an uninterrupted
one. ``train`` is the one-call form the commands use.
"""
from __future__ import annotations

import math
import os
import signal
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader

from monas.io import refuse_links
from monas.train.augmentation import BatchMixer
from monas.train.checkpoint import TrainingStateError  # noqa: F401 - re-exported
from monas.train.checkpoint import read_checkpoint, rng_state, seed_everything, set_rng_state, write_checkpoint
from monas.train.config import CHECKPOINT, METRICS, TENSORBOARD, TrainConfig
from monas.train.data import TrainData, datasets, loaders
from monas.train.distributed import agree, gather, mean_over_processes, rank_and_world
from monas.train.metrics import MetricsWriter

_STOP_SYNC_EVERY = 10  # steps between agreements of all processes on a preemption signal
_STATE_ERRORS = (KeyError, IndexError, TypeError, ValueError, RuntimeError)  # a checkpoint that does not fit


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


class Trainer:
    """Trains ``model`` (in place) with ``config`` and evaluates it on ``test_data``.

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
    history row; ``log(line)`` a line per evaluation; ``on_checkpoint()`` is called (on
    rank 0) after each checkpoint is written. ``should_stop()`` is polled between steps
    (by all processes together every few steps under DDP): when true, a checkpoint is
    written at the current step and ``run`` returns with ``preempted=True``.

    ValueError for settings out of range or fewer training images per process than a
    batch; RunDirError when ``out_dir`` or a file it writes there is a symbolic link.
    """

    def __init__(
        self,
        model: nn.Module,
        train_data: TrainData,
        test_data: TrainData,
        config: TrainConfig,
        device: torch.device,
        *,
        out_dir: str | os.PathLike | None = None,
        stopper: Stopper | None = None,
        on_eval: Callable[[dict], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
        log: Callable[[str], None] | None = None,
        on_checkpoint: Callable[[], None] | None = None,
    ) -> None:
        config.validate()
        self.config, self.device = config, device
        self.rank, self.world = rank_and_world()
        self.out = Path(out_dir) if out_dir is not None else None
        if self.out is not None and self.rank == 0:
            self.out.mkdir(parents=True, exist_ok=True)
            refuse_links(self.out, (CHECKPOINT, METRICS, TENSORBOARD))
            refuse_links(self.out / TENSORBOARD)
        self.stopper, self.preemption = stopper, should_stop
        main = self.rank == 0  # the one process that writes, prints and calls back
        self.on_eval, self.log, self.on_checkpoint = (on_eval, log, on_checkpoint) if main else (None, None, None)
        train_set, test_set = datasets(train_data, test_data, config)
        self._build(model)
        self.sampler, self.train_loader, self.test_loader = loaders(
            train_set, test_set, config, self.rank, self.world, pin_memory=device.type == "cuda")
        self.steps_per_epoch = self.sampler.num_samples // config.batch_size
        self.total_steps = config.epochs * self.steps_per_epoch
        self.eval_interval = max(1, round(config.eval_every * self.steps_per_epoch))
        seed_everything(config.seed, self.rank)
        self.progress = Progress()
        self.metrics: MetricsWriter | None = None
        self.wall_start = time.perf_counter()
        self.lr = config.lr_at(0.0)

    def _build(self, model: nn.Module) -> None:
        """Place the model, wrap it for DDP, and make the optimizer, scaler and mixer."""
        config, device = self.config, self.device
        use_cuda = device.type == "cuda"
        self.amp = config.amp and use_cuda
        self.memory_format = torch.channels_last if config.channels_last and use_cuda else torch.contiguous_format
        self.module = model.to(device, memory_format=self.memory_format)
        self.net = (DistributedDataParallel(self.module, device_ids=[device.index] if use_cuda else None)
                    if self.world > 1 else self.module)
        self.optimizer = torch.optim.SGD(
            self.module.parameters(), lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay
        )
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp)
        self.mixer = BatchMixer(config.mixup, config.cutmix, self.module.classifier.out_features)

    def restore(self) -> bool:
        """Continue from ``out_dir``'s checkpoint when there is one (True) and replay its
        history to the stopper. TrainingStateError when it was made with other settings
        (other than ``RESUMABLE_CHANGES``) or another number of processes, does not fit
        the network, or is not a checkpoint of this format."""
        path = self.out / CHECKPOINT if self.out is not None else None
        if path is None or not path.exists():
            return False
        saved = read_checkpoint(path, self.config, self.world)
        try:
            self.module.load_state_dict(saved["model"])
            self.optimizer.load_state_dict(saved["optimizer"])
            self.scaler.load_state_dict(saved["scaler"])
            self.progress = Progress(**saved["progress"])
            set_rng_state(saved["rng"][self.rank], self.device)
        except _STATE_ERRORS as exc:
            raise TrainingStateError(f"{path} does not fit this network and run ({type(exc).__name__}); "
                                     "start again with --overwrite") from None
        if self.stopper is not None:
            for row in self.progress.history:
                self.stopper.update(row["epoch"], row["accuracy"])
        return True

    def run(self) -> TrainResult:
        """Train until the epochs, ``max_steps`` or the time budget are done, the stopper
        stops it or ``should_stop`` preempts it; a finished run returns its result
        without training."""
        if self.progress.finished:
            return self.result()
        if self.out is not None and self.rank == 0:
            self.metrics = MetricsWriter(self.out, self.progress.step)
        try:
            self.wall_start = time.perf_counter() - self.progress.seconds
            self.lr = self.config.lr_at(min(1.0, self.fraction_done()))
            reason = self.limit_reached()
            self.net.train()
            while reason is None:
                reason = self.run_epoch()
            return self.finish(reason)
        finally:
            if self.metrics is not None:
                self.metrics.close()

    def run_epoch(self) -> str | None:
        """Train from the current step to the end of its epoch, evaluating and
        checkpointing on the way; the reason to stop (``should_stop``) or None."""
        epoch, position = divmod(self.progress.step, self.steps_per_epoch)
        self.sampler.set_position(epoch, position * self.config.batch_size)
        reason = None
        clock = time.perf_counter()  # the training time counts data loading, not evaluation and checkpoints
        for images, labels in self.train_loader:
            self.step(images, labels)
            self.progress.train_seconds += time.perf_counter() - clock
            reason = self.should_stop()
            if self.progress.step % self.eval_interval == 0:
                if self.evaluate():
                    self.progress.stopped_early = True
                    reason = "curve"
                self.net.train()
            if reason is None and self.checkpoint_due():
                self.save()
            _injected_kill(self.progress.step)
            clock = time.perf_counter()
            if reason is not None or self.progress.step % self.steps_per_epoch == 0:
                break
        return reason

    def step(self, images: torch.Tensor, labels: torch.Tensor) -> None:
        """One optimizer step on a batch at the schedule's learning rate and drop-path."""
        config, progress = self.config, self.progress
        done = min(1.0, self.fraction_done())
        self.lr = config.lr_at(done)
        for group in self.optimizer.param_groups:
            group["lr"] = self.lr
        if hasattr(self.module, "drop_path_prob"):
            self.module.drop_path_prob = config.drop_path * done
        images = images.to(self.device, non_blocking=True, memory_format=self.memory_format)
        labels = labels.to(self.device, non_blocking=True)
        images, targets = self.mixer(images, labels)
        with torch.autocast(self.device.type, dtype=torch.float16, enabled=self.amp):
            loss = recipe_loss(self.net(images), targets, config)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if config.grad_clip:
            self.scaler.unscale_(self.optimizer)
            nn.utils.clip_grad_norm_(self.module.parameters(), config.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        progress.step += 1
        progress.loss_sum += loss.detach().float()  # a tensor until read: no device sync per step
        progress.loss_count += 1

    def should_stop(self) -> str | None:
        """After a step: "preempted" when ``should_stop`` said so on any process (polled
        every step in a single process or under a time budget, every few steps
        otherwise, when the processes also agree on the training time), else the limit
        reached, else None."""
        progress = self.progress
        if self.world == 1 or self.config.time_budget is not None or progress.step % _STOP_SYNC_EVERY == 0:
            signalled = self.preemption is not None and self.preemption()
            signalled, progress.train_seconds = agree(signalled, progress.train_seconds, self.device)
            if signalled:
                return "preempted"
        return self.limit_reached()

    def limit_reached(self) -> str | None:
        """"max_steps", "epochs" or "budget" when that limit is reached, else None."""
        config, progress = self.config, self.progress
        if progress.step >= (config.max_steps or math.inf):
            return "max_steps"
        if config.time_budget is None and progress.step >= self.total_steps:
            return "epochs"
        if config.time_budget is not None and progress.train_seconds >= config.time_budget:
            return "budget"
        return None

    def fraction_done(self) -> float:
        """How far the schedule has come: training time over the time budget when there
        is one, steps over all steps otherwise (may pass 1 at the end of a budget)."""
        if self.config.time_budget is not None:
            return self.progress.train_seconds / self.config.time_budget
        return self.progress.step / self.total_steps

    def checkpoint_due(self) -> bool:
        """Whether the current step ends an epoch or a ``checkpoint_every_steps`` interval."""
        step, every = self.progress.step, self.config.checkpoint_every_steps
        return step % self.steps_per_epoch == 0 or bool(every and step % every == 0)

    def evaluate(self) -> bool:
        """Evaluate on the test data, record and report the row, consult the stopper;
        True when it says stop. FloatingPointError when the training loss diverged."""
        progress = self.progress
        loss, top1, top5 = evaluate(self.module, self.test_loader, self.device, self.amp, self.memory_format)
        train_loss = mean_over_processes(progress.loss_sum, progress.loss_count, self.device)
        if not math.isfinite(train_loss):
            raise FloatingPointError(f"training diverged: mean loss {train_loss} before step {progress.step}")
        row = {"epoch": progress.step / self.steps_per_epoch, "step": progress.step, "lr": self.lr,
               "train_loss": train_loss, "loss": loss, "accuracy": top1, "top5": top5,
               "train_seconds": progress.train_seconds}
        progress.history.append(row)
        progress.loss_sum, progress.loss_count = 0.0, 0
        self._report(row)
        return self.stopper is not None and self.stopper.update(row["epoch"], top1)

    def _report(self, row: dict) -> None:
        """The log line, metrics.csv (and TensorBoard) and ``on_eval`` (rank 0 only)."""
        if self.log is not None:
            self.log(f"epoch {row['epoch']:.2f}  step {row['step']}  lr {row['lr']:.4g}  "
                     f"train loss {row['train_loss']:.4f}  test loss {row['loss']:.4f}  top-1 {row['accuracy']:.2f}%  "
                     f"top-5 {row['top5']:.2f}%  {row['train_seconds']:.0f}s")
        if self.metrics is not None:
            self.metrics.write(self.progress.history)
        if self.on_eval is not None:
            self.on_eval(row)

    def save(self) -> None:
        """Write the checkpoint (every process gives its generators' states; rank 0
        writes), then call ``on_checkpoint``; without ``out_dir`` only the wall-clock
        time is recorded."""
        self.progress.seconds = time.perf_counter() - self.wall_start
        if self.out is None:
            return
        self.progress.loss_sum = float(self.progress.loss_sum)
        rng = gather(rng_state(self.device), self.world)
        if self.rank == 0:
            write_checkpoint(self.out / CHECKPOINT, self.config, self.world, {
                "model": self.module.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "scaler": self.scaler.state_dict(),
                "progress": asdict(self.progress),
                "rng": rng,
            })
            if self.on_checkpoint is not None:
                self.on_checkpoint()

    def finish(self, reason: str) -> TrainResult:
        """End the run stopped for ``reason``: a last evaluation unless the step was just
        evaluated (a preempted run is evaluated where it ends, after resuming), the
        final checkpoint and the result."""
        progress = self.progress
        if reason != "preempted":
            if not progress.history or progress.history[-1]["step"] != progress.step:
                self.evaluate()
            progress.finished = True
        self.save()
        result = self.result()
        result.preempted = reason == "preempted"
        return result

    def result(self) -> TrainResult:
        """What the run has reached so far."""
        return self.progress.result(self.steps_per_epoch, self.stopper)


def train(
    model: nn.Module,
    train_data: TrainData,
    test_data: TrainData,
    config: TrainConfig,
    device: torch.device,
    *,
    resume: bool = False,
    **options: Any,
) -> TrainResult:
    """Train ``model`` (in place) with ``config``, evaluate it on ``test_data`` and return
    what it reached: a ``Trainer`` with ``options`` (its keyword arguments: the output
    folder, the callbacks; see it for the data and the errors), restored from
    ``out_dir``'s checkpoint when ``resume`` and there is one (a finished run returns its
    result without training), then run."""
    trainer = Trainer(model, train_data, test_data, config, device, **options)
    if resume:
        trainer.restore()
    return trainer.run()


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
class Progress:
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


def _injected_kill(step: int) -> None:
    """Fault injection for the kill tests: ``MONAS_KILL_AT_STEP=<n>`` SIGKILLs the process
    right after step n (and after any checkpoint written there)."""
    if os.environ.get("MONAS_KILL_AT_STEP") == str(step):
        os.kill(os.getpid(), signal.SIGKILL)
