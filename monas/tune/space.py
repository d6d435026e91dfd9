"""The tuned hyperparameters as NOMAD variables.

A ``TuningSpace`` declares the tuned ``TrainConfig`` fields and how each maps to a NOMAD
variable: reals (``R``), reals on a log10 scale (learning rate, weight decay), integers
(``I``: epochs, crop padding, Cutout size, RandAugment magnitude), booleans (``B``:
flip) and categorical choices, coded as the integer index of the choice (NOMAD 4 has
no categorical type; batch size). Real values are rounded to 4 significant digits, so
that what is trained, logged and written as flags is one and the same number.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

KINDS = ("real", "log", "int", "bool", "choice")
_NOMAD_TYPE = {"real": "R", "log": "R", "int": "I", "bool": "B", "choice": "I"}
_DIGITS = 4


@dataclass(frozen=True)
class Hyperparameter:
    """One tuned ``TrainConfig`` field: ``kind`` is real, log (real, searched on a log10
    scale), int, bool or choice (one of ``choices``); ``low``/``high`` bound real, log
    and int values; ``default`` is where the search starts."""

    name: str
    kind: str
    default: Any
    low: float = 0.0
    high: float = 1.0
    choices: tuple = ()

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown kind {self.kind!r} of {self.name} ({', '.join(KINDS)})")
        if self.kind == "choice":
            if self.default not in self.choices:
                raise ValueError(f"{self.name}: default {self.default!r} is not one of {self.choices}")
        elif self.kind != "bool" and not self.low <= self.default <= self.high:
            raise ValueError(f"{self.name}: default {self.default} is outside [{self.low}, {self.high}]")
        if self.kind == "log" and not self.low > 0:
            raise ValueError(f"{self.name}: a log-scale range must be positive")
        # NOMAD refuses a variable whose bounds coincide (and then crashes the process).
        if (self.kind == "choice" and len(self.choices) < 2) or (self.kind not in ("bool", "choice") and not self.low < self.high):
            raise ValueError(f"{self.name} has a single value; set it in the base configuration instead of tuning it")

    @property
    def nomad_type(self) -> str:
        """NOMAD's type letter of the variable."""
        return _NOMAD_TYPE[self.kind]

    @property
    def bounds(self) -> tuple[float, float]:
        """The variable's bounds in NOMAD's coordinates."""
        if self.kind == "log":
            return math.log10(self.low), math.log10(self.high)
        if self.kind == "bool":
            return 0.0, 1.0
        if self.kind == "choice":
            return 0.0, float(len(self.choices) - 1)
        return float(self.low), float(self.high)

    def encode(self, value: Any) -> float:
        """The NOMAD coordinate of ``value``."""
        if self.kind == "log":
            return math.log10(value)
        if self.kind == "choice":
            return float(self.choices.index(value))
        return float(value)

    def decode(self, coordinate: float) -> Any:
        """The value at NOMAD coordinate ``coordinate``."""
        if self.kind == "log":
            return _round(10.0**coordinate)
        if self.kind == "real":
            return _round(coordinate)
        if self.kind == "bool":
            return bool(round(coordinate))
        if self.kind == "choice":
            return self.choices[round(coordinate)]
        return round(coordinate)


def _round(value: float) -> float:
    return float(f"{value:.{_DIGITS}g}")


@dataclass(frozen=True)
class TuningSpace:
    """The tuned hyperparameters, in NOMAD's variable order."""

    params: tuple[Hyperparameter, ...]

    def nomad_parameters(self) -> list[str]:
        """NOMAD's variable-type parameter line."""
        return [f"BB_INPUT_TYPE ( {' '.join(p.nomad_type for p in self.params)} )"]

    @property
    def lower(self) -> list[float]:
        """Lower bounds in NOMAD's coordinates."""
        return [p.bounds[0] for p in self.params]

    @property
    def upper(self) -> list[float]:
        """Upper bounds in NOMAD's coordinates."""
        return [p.bounds[1] for p in self.params]

    @property
    def x0(self) -> list[float]:
        """The defaults in NOMAD's coordinates: where the search starts."""
        return [p.encode(p.default) for p in self.params]

    def decode(self, x: list[float]) -> dict:
        """``{field: value}`` at NOMAD point ``x``."""
        return {p.name: p.decode(c) for p, c in zip(self.params, x)}

    def describe(self) -> list[dict]:
        """The space as JSON-able rows (for the run's config.json)."""
        return [dataclasses.asdict(p) for p in self.params]


def training_space(min_epochs: int = 1, max_epochs: int = 10, tune_epochs: bool = True) -> TuningSpace:
    """The default space: learning rate (log, 0.005-0.5), weight decay (log, 1e-5-1e-2),
    batch size (32, 64, 128, 256), label smoothing (0-0.3), drop-path (0-0.3), epochs
    (``min_epochs``-``max_epochs``; left out when they are equal, or with
    ``tune_epochs=False``, as when each trial trains for a fixed time), flip, crop padding (0-8), Cutout size (0-16), MixUp and
    CutMix alpha (0-1; 0 off), RandAugment magnitude (0-15; 0 off)."""
    if not 1 <= min_epochs <= max_epochs:
        raise ValueError(f"need 1 <= min_epochs <= max_epochs, got {min_epochs} and {max_epochs}")
    params = [
        Hyperparameter("lr", "log", 0.05, 0.005, 0.5),
        Hyperparameter("weight_decay", "log", 5e-4, 1e-5, 1e-2),
        Hyperparameter("batch_size", "choice", 64, choices=(32, 64, 128, 256)),
        Hyperparameter("label_smoothing", "real", 0.0, 0.0, 0.3),
        Hyperparameter("drop_path", "real", 0.0, 0.0, 0.3),
    ]
    if tune_epochs and min_epochs < max_epochs:
        params.append(Hyperparameter("epochs", "int", (min_epochs + max_epochs + 1) // 2, min_epochs, max_epochs))
    params += [
        Hyperparameter("flip", "bool", True),
        Hyperparameter("crop_padding", "int", 4, 0, 8),
        Hyperparameter("cutout", "int", 0, 0, 16),
        Hyperparameter("mixup", "real", 0.0, 0.0, 1.0),
        Hyperparameter("cutmix", "real", 0.0, 0.0, 1.0),
        Hyperparameter("randaugment", "int", 0, 0, 15),
    ]
    return TuningSpace(tuple(params))
