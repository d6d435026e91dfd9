"""``TrainConfig`` <-> command-line flags, both ways from one table (``FLAG_HELP``:
one flag per field, ``--batch-size`` for ``batch_size``; booleans ``--amp/--no-amp``).
The training commands parse the flags (``add_config_flags``, ``config_from_args``);
``run_hpo`` writes its best configuration as them (``config_flags``), so that
``train_cifar $(cat best_flags.txt)`` trains it again. Imports nothing heavy."""
from __future__ import annotations

import argparse
import dataclasses

from monas.errors import UsageError
from monas.train.config import RESUMABLE_CHANGES, TrainConfig

FLAG_HELP = {
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
# The type of the fields whose default is None (unset).
_OPTIONAL_TYPES = {"time_budget": float, "max_steps": int, "checkpoint_every_steps": int}


def flag(name: str) -> str:
    """The flag of TrainConfig field ``name``."""
    return "--" + name.replace("_", "-")


def add_config_flags(p: argparse.ArgumentParser, defaults: TrainConfig) -> None:
    """One flag per TrainConfig field, overriding the recipe's value; the help shows
    ``defaults`` (darts's recipe). Unset flags are absent from the namespace."""
    for f in dataclasses.fields(TrainConfig):
        default = getattr(defaults, f.name)
        help_text = f"{FLAG_HELP[f.name]} (default: the recipe's; darts {default})"
        if isinstance(default, bool):
            p.add_argument(flag(f.name), action=argparse.BooleanOptionalAction, default=argparse.SUPPRESS, help=help_text)
        else:
            kind = _OPTIONAL_TYPES.get(f.name, type(f.default))
            p.add_argument(flag(f.name), type=kind, default=argparse.SUPPRESS, help=help_text)


def config_from_args(args: argparse.Namespace, defaults: TrainConfig) -> TrainConfig:
    """``defaults`` with the given flags applied, validated (UsageError when out of range)."""
    given = {f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig) if hasattr(args, f.name)}
    config = dataclasses.replace(defaults, **given)
    try:
        config.validate()
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    return config


def config_flags(config: TrainConfig, recipe: str, base: TrainConfig, network: dict) -> list[str]:
    """The flags that give ``config`` and the ``network`` settings: ``--recipe recipe``,
    ``--net KEY=VALUE`` per network setting, then a flag per value of ``config`` that
    differs from ``base`` (the recipe's), leaving out those that change neither the
    optimisation nor the data (evaluation interval, loader workers and the like:
    ``RESUMABLE_CHANGES``). What ``add_config_flags`` and ``--net`` parse back."""
    flags = ["--recipe", recipe]
    for key, value in network.items():
        flags += ["--net", f"{key}={value}"]
    for f in dataclasses.fields(TrainConfig):
        value = getattr(config, f.name)
        if value == getattr(base, f.name) or f.name in RESUMABLE_CHANGES:
            continue
        if isinstance(value, bool):
            flags.append(flag(f.name) if value else "--no-" + f.name.replace("_", "-"))
        else:
            flags += [flag(f.name), str(value)]
    return flags
