"""``TrainConfig``, the training recipe, and the names of the files of a training run
and of a tuning run, in a module that imports nothing heavy (the training commands
parse and check their flags before importing torch). ``monas.train.loop`` and
``monas.tune.driver`` re-export the ones they use."""
from __future__ import annotations

import math
from dataclasses import dataclass, fields

CHECKPOINT = "checkpoint.pt"
METRICS = "metrics.csv"
TENSORBOARD = "tensorboard"
SCHEDULES = ("cosine", "linear")
TRIALS, BEST, BEST_FLAGS = "trials.jsonl", "best.json", "best_flags.txt"
# Settings that may differ between a run and its resumption: they change neither the
# optimisation nor the data order. (Data loaders get their own generators, so that
# creating one draws nothing from the global generator the training uses.)
RESUMABLE_CHANGES = frozenset({"max_steps", "eval_every", "checkpoint_every_steps", "loader_workers", "eval_batch_size"})
# Upper bounds of settings whose absurd values would overflow a seed, a counter or the
# memory long before they could mean anything (MAX_SECONDS: about 30 years).
MAX_SEED = 2**31 - 1
MAX_SECONDS = 1e9  # NOMAD takes its time limit as a 32-bit int
MAX_EPOCHS = 100_000
MAX_BATCH = 1_000_000
MAX_LOADER_WORKERS = 256


@dataclass
class TrainConfig:
    """Every value of the training recipe. Defaults: the DARTS CIFAR-10 recipe (SGD with
    momentum 0.9, learning rate 0.025 with cosine decay, weight decay 3e-4, batch 96,
    cutout 16, drop-path 0.2, auxiliary weight 0.4, gradient clipping at 5, 600 epochs).

    Augmentation (per image, for in-memory images; ImageFolder data brings its own
    transform): ``flip``, ``crop_padding`` (random crop after zero padding; 0 off),
    ``cutout`` (square size; 0 off), ``randaugment`` (magnitude; 0 off); per batch:
    ``mixup`` and ``cutmix`` (Beta alpha; 0 off).

    ``warmup_epochs``: linear warm-up from 0, then ``schedule`` ("cosine" or "linear")
    decay to 0 at the end (a warm-up as long as the run leaves no decay). ``time_budget`` (seconds of training, evaluation excluded):
    when set, the schedule and drop-path follow elapsed / time_budget instead of
    step / total steps (the warm-up lasting warmup_epochs / epochs of the budget) and
    training stops when the budget is spent, whatever ``epochs`` says. ``max_steps``
    stops after that many optimizer steps without changing the schedule (smoke runs).
    ``eval_every`` in epochs (0.5: twice per epoch). ``amp`` and ``channels_last`` apply
    on CUDA only. ``batch_size`` is per process.
    """

    epochs: int = 600
    batch_size: int = 96
    lr: float = 0.025
    momentum: float = 0.9
    weight_decay: float = 3e-4
    label_smoothing: float = 0.0
    drop_path: float = 0.2
    auxiliary_weight: float = 0.4
    grad_clip: float = 5.0
    warmup_epochs: float = 0.0
    schedule: str = "cosine"
    seed: int = 0
    amp: bool = True
    channels_last: bool = True
    flip: bool = True
    crop_padding: int = 4
    cutout: int = 16
    mixup: float = 0.0
    cutmix: float = 0.0
    randaugment: int = 0
    time_budget: float | None = None
    max_steps: int | None = None
    eval_every: float = 1.0
    checkpoint_every_steps: int | None = None
    loader_workers: int = 2
    eval_batch_size: int = 256

    def validate(self) -> None:
        """ValueError naming the first setting out of range (NaN and infinity included)."""
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueError(f"{f.name} must be a finite number, got {value}")
        positive = ("epochs", "batch_size", "lr", "eval_every", "eval_batch_size")
        for name in positive:
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        non_negative = ("momentum", "weight_decay", "label_smoothing", "drop_path", "auxiliary_weight", "grad_clip",
                        "warmup_epochs", "crop_padding", "cutout", "mixup", "cutmix", "randaugment", "loader_workers",
                        "seed")
        for name in non_negative:
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} must not be negative, got {getattr(self, name)}")
        upper = {"seed": MAX_SEED, "epochs": MAX_EPOCHS, "batch_size": MAX_BATCH, "eval_batch_size": MAX_BATCH,
                 "loader_workers": MAX_LOADER_WORKERS, "time_budget": MAX_SECONDS, "warmup_epochs": MAX_EPOCHS,
                 "eval_every": MAX_EPOCHS, "randaugment": 30}
        for name, bound in upper.items():
            value = getattr(self, name)
            if value is not None and value > bound:
                raise ValueError(f"{name} must be at most {bound:g}, got {value}")
        if not self.momentum < 1:
            raise ValueError(f"momentum must be below 1, got {self.momentum}")
        if self.batch_size < 2:
            raise ValueError("batch_size must be at least 2 (batch-norm cannot train on one image)")
        if not self.label_smoothing < 1 or not self.drop_path < 1:
            raise ValueError("label_smoothing and drop_path must be below 1")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"unknown schedule {self.schedule!r} ({', '.join(SCHEDULES)})")
        for name in ("time_budget", "max_steps", "checkpoint_every_steps"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ValueError(f"{name} must be positive when given, got {value}")

    def lr_at(self, progress: float) -> float:
        """The learning rate at ``progress`` in [0, 1] of the schedule."""
        warmup = min(1.0, self.warmup_epochs / self.epochs)
        if progress < warmup:
            return self.lr * progress / warmup
        if warmup == 1.0:
            return self.lr
        rest = min(1.0, (progress - warmup) / (1.0 - warmup))
        if self.schedule == "cosine":
            return 0.5 * self.lr * (1.0 + math.cos(math.pi * rest))
        return self.lr * (1.0 - rest)
