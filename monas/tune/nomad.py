"""Hyperparameter tuning with NOMAD (the MADS blackbox optimizer, ``PyNomad``).

A ``TuningSpace`` declares the tuned ``TrainConfig`` fields and how each maps to a NOMAD
variable: reals (``R``), reals on a log10 scale (learning rate, weight decay), integers
(``I``: epochs, crop padding, Cutout size, RandAugment magnitude), booleans (``B``:
flip) and categorical choices, coded as the integer index of the choice (NOMAD 4 has
no categorical type; batch size). Real values are rounded to 4 significant digits, so
that what is trained, logged and written as flags is one and the same number.

``tune`` runs NOMAD on an objective (a trial: configuration values -> error to
minimise) within a wall-clock budget and a number of trials. Every trial is appended
to ``trials.jsonl`` and fsynced as it finishes. NOMAD's blackbox cannot stop NOMAD, so
once the budget is spent (or on Ctrl-C) the blackbox answers "failed" at once without
training, and ``MAX_TIME`` ends NOMAD at the same deadline; a trial running at the
deadline is stopped there (``status: cut``, no objective). A failed trial (an
exception, a non-finite objective) is logged with its error and NOMAD is told the
point failed; NOMAD ends the search when its starting point (the defaults) fails. (``MAX_TIME`` is set a
second beyond the deadline: NOMAD counts time from before its first evaluation.)

Resuming replays the log: NOMAD is deterministic for a given seed, starting point and
sequence of answers, so a resumed run asks for the same points again and gets each
logged trial's recorded answer (no training) until it reaches the first point that was
never finished, from where it continues as the original run would have. The budget and
the trial count cover the whole tuning, logged trials included.
"""
from __future__ import annotations

import copy
import dataclasses
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from monas.train.curves import CurveStopper
from monas.io import append_line, atomic_write, read_lines
from monas.train.loop import MAX_SECONDS, RESUMABLE_CHANGES, TrainConfig, train
from monas.train.config import BEST, BEST_FLAGS, TRIALS  # noqa: F401 - re-exported

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


@dataclass
class Trial:
    """One logged trial: its number, configuration values, NOMAD point, objective (error
    in %, minimised; None unless ``status`` is ok), seconds, status (ok, failed, cut),
    what the objective reported (``info``: accuracies, epochs, the proxy's cost) and
    ``elapsed``: the tuning's wall-clock seconds when it ended, over all resumptions
    (what the time budget counts)."""

    number: int
    values: dict
    x: list[float]
    objective: float | None
    seconds: float
    status: str
    info: dict = field(default_factory=dict)
    elapsed: float = 0.0

    @property
    def key(self) -> str:
        """Identifies the configuration (two NOMAD points may decode to the same one)."""
        return json.dumps(self.values, sort_keys=True)

    def to_json(self) -> dict:
        """The log line."""
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, record: dict) -> Trial:
        """A trial from its log line."""
        return cls(**record)


@dataclass
class TuningResult:
    """Every trial (logged before and now), the best one (lowest objective; None when no
    trial succeeded), why tuning stopped and the wall-clock seconds of tuning up to
    the last trial, over all resumptions."""

    trials: list[Trial]
    best: Trial | None
    stop_reason: str
    seconds: float


class TrialCut(Exception):
    """Raised by an objective whose training the tuning deadline stopped."""


Objective = Callable[[dict, float], tuple[float, dict]]
"""``objective(values, deadline) -> (error to minimise, info)``; ``deadline`` on the
``time.monotonic`` clock. Raises TrialCut when stopped at the deadline, anything else
when the trial failed."""


def tune(
    objective: Objective,
    space: TuningSpace,
    out: str | Path,
    *,
    time_budget: float,
    max_trials: int | None = None,
    seed: int = 0,
    log: Callable[[str], None] = print,
    on_trial: Callable[[Trial], None] | None = None,
) -> TuningResult:
    """Minimise ``objective`` over ``space`` with NOMAD for at most ``time_budget`` seconds
    of tuning and ``max_trials`` trials (both counting trials already logged in
    ``out/trials.jsonl``, which are replayed, not re-run). Appends each new trial to the
    log and then calls ``on_trial(trial)``; a KeyboardInterrupt during a trial is
    re-raised after NOMAD has stopped (that trial is not logged and runs again on
    resume). ``time_budget`` is at most MAX_SECONDS (NOMAD's time limit is an int)."""
    import PyNomad

    if not 0 < time_budget <= MAX_SECONDS:
        raise ValueError(f"time_budget must be positive and at most {MAX_SECONDS:g} seconds, got {time_budget}")
    if max_trials is not None and max_trials < 1:
        raise ValueError(f"max_trials must be at least 1, got {max_trials}")
    Path(out).mkdir(parents=True, exist_ok=True)
    path = Path(out) / TRIALS
    trials = read_lines(path, Trial.from_json)
    answers = {t.key: t for t in trials if t.status in ("ok", "failed")}
    spent = max((t.elapsed for t in trials), default=0.0)
    session_start = time.monotonic()
    remaining = time_budget - spent
    deadline = session_start + remaining
    stop: dict[str, Any] = {"reason": None, "error": None}

    def run_trial(x: list[float]) -> Trial | None:
        values = space.decode(x)
        key = json.dumps(values, sort_keys=True)
        if key in answers:
            return answers[key]
        if time.monotonic() >= deadline:
            stop["reason"] = "time budget spent"
            return None
        start = time.monotonic()
        objective_value, info, status = None, {}, "ok"
        try:
            objective_value, info = objective(values, deadline)
            if not math.isfinite(objective_value):
                status, info = "failed", {**info, "error": f"objective is {objective_value}"}
        except TrialCut:
            status = "cut"
            stop["reason"] = "time budget spent"
        except Exception as exc:  # noqa: BLE001 - a failed trial is recorded and tuning goes on
            status, info = "failed", {"error": f"{type(exc).__name__}: {exc}"}
        end = time.monotonic()
        trial = Trial(len(trials), values, list(x), objective_value if status == "ok" else None,
                      end - start, status, info, spent + end - session_start)
        append_line(path, trial.to_json())
        trials.append(trial)
        if on_trial is not None:
            on_trial(trial)
        if status != "cut":
            answers[key] = trial
        shown = f"error {trial.objective:.2f}%" if trial.status == "ok" else trial.status
        log(f"trial {trial.number}: {shown} in {trial.seconds:.1f}s  {_short(values)}")
        return trial

    def blackbox(point) -> int:
        if stop["reason"] is not None:
            return 0
        try:
            trial = run_trial([point.get_coord(i) for i in range(point.size())])
        except BaseException as exc:  # noqa: BLE001 - NOMAD swallows exceptions: keep it, stop, re-raise after NOMAD
            stop["reason"] = "interrupted" if isinstance(exc, KeyboardInterrupt) else "error"
            stop["error"] = exc
            return 0
        if trial is None or trial.status != "ok":
            return 0
        point.setBBO(repr(trial.objective).encode("utf-8"))
        return 1

    if remaining <= 0:
        stop_reason = "time budget spent"
    elif max_trials is not None and len(answers) >= max_trials:
        stop_reason = "trial limit reached"
    else:
        params = ["BB_OUTPUT_TYPE OBJ", *space.nomad_parameters(), f"SEED {seed}", "DISPLAY_DEGREE 0",
                  f"MAX_TIME {math.ceil(remaining) + 1}"]
        if max_trials is not None:
            params.append(f"MAX_BB_EVAL {max_trials}")
        PyNomad.setSeed(seed)  # the SEED parameter alone leaves the process-wide generator where it was
        result = PyNomad.optimize(blackbox, space.x0, space.lower, space.upper, params)
        if stop["error"] is not None:
            raise stop["error"]
        stop_reason = stop["reason"] or (
            "time budget spent" if "allowed time" in result["stop_reason"] else f"NOMAD: {result['stop_reason']}"
        )
    done = [t for t in trials if t.status == "ok"]
    best = min(done, key=lambda t: t.objective) if done else None
    return TuningResult(trials, best, stop_reason, max((t.elapsed for t in trials), default=0.0))


def _short(values: dict) -> str:
    return " ".join(f"{k}={v}" for k, v in values.items())


def config_flags(config: TrainConfig) -> list[str]:
    """The ``train_cifar.py`` flags that set ``config``'s values where they differ from
    TrainConfig's defaults (booleans as ``--flip``/``--no-flip``), leaving out settings
    that change neither the optimisation nor the data (evaluation interval, loader
    workers and the like: ``RESUMABLE_CHANGES``)."""
    defaults = TrainConfig()
    flags = []
    for f in dataclasses.fields(TrainConfig):
        value = getattr(config, f.name)
        if value == getattr(defaults, f.name) or f.name in RESUMABLE_CHANGES:
            continue
        flag = "--" + f.name.replace("_", "-")
        if isinstance(value, bool):
            flags.append(flag if value else "--no-" + f.name.replace("_", "-"))
        else:
            flags += [flag, str(value)]
    return flags


def write_best(out: str | Path, best: Trial, config: TrainConfig) -> None:
    """``best.json`` (the best trial and its full TrainConfig) and ``best_flags.txt`` (the
    same configuration as ``train_cifar.py`` flags, one line), written atomically."""
    out = Path(out)
    flags = config_flags(config)
    summary = {"trial": best.to_json(), "config": dataclasses.asdict(config), "flags": flags}
    atomic_write(out / BEST, json.dumps(summary, indent=2) + "\n")
    atomic_write(out / BEST_FLAGS, " ".join(flags) + "\n")


@dataclass
class TrainingObjective:
    """A trial: train a fresh copy of ``network`` (a pruned one when given: the proxy)
    with ``base`` updated by the trial's values on ``train_data`` and measure its error
    (%) on ``val_data``. With ``early_stop``, a learning-curve stopper ends training
    once its prediction of the accuracy at the last epoch has converged, and that
    prediction (clipped to [0, 100]) is the trial's accuracy."""

    network: nn.Module
    train_data: tuple[torch.Tensor, torch.Tensor]
    val_data: tuple[torch.Tensor, torch.Tensor]
    base: TrainConfig
    device: torch.device
    early_stop: bool = False
    info: dict = field(default_factory=dict)

    def config(self, values: dict) -> TrainConfig:
        """The trial's TrainConfig: ``base`` with ``values``, evaluated only at the end
        (every half epoch with early stopping)."""
        config = dataclasses.replace(self.base, **values)
        config.eval_every = 0.5 if self.early_stop else float(config.epochs)
        return config

    def __call__(self, values: dict, deadline: float) -> tuple[float, dict]:
        config = self.config(values)
        stopper = CurveStopper(final_epoch=config.epochs) if self.early_stop else None
        result = train(copy.deepcopy(self.network), self.train_data, self.val_data, config, self.device,
                       stopper=stopper, should_stop=lambda: time.monotonic() >= deadline)
        if result.preempted:
            raise TrialCut()
        accuracy = result.test_accuracy
        if result.stopped_early and result.prediction is not None:
            accuracy = min(100.0, max(0.0, result.prediction))
        info = {
            **self.info,
            "val_accuracy": result.test_accuracy,
            "accuracy": accuracy,
            "predicted": result.stopped_early,
            "epochs_run": result.epochs,
            "train_seconds": result.train_seconds,
            "seconds_per_epoch": result.train_seconds / result.epochs if result.epochs else None,
        }
        return 100.0 - accuracy, info
