"""Hyperparameter tuning with NOMAD (the MADS blackbox optimizer, ``PyNomad``).

``tune`` runs NOMAD on an objective (a trial: configuration values -> error to
minimise) over a ``monas.tune.space.TuningSpace`` within a wall-clock budget and a
number of trials. Every trial is appended to ``trials.jsonl`` and fsynced as it
finishes. NOMAD's blackbox cannot stop NOMAD, so once the budget is spent (or on
Ctrl-C) the blackbox answers "failed" at once without training, and ``MAX_TIME`` ends
NOMAD at the same deadline; a trial running at the deadline is stopped there
(``status: cut``, no objective). A failed trial (an exception, a non-finite objective)
is logged with its error and NOMAD is told the point failed; NOMAD ends the search when
its starting point (the defaults) fails. (``MAX_TIME`` is set a second beyond the
deadline: NOMAD counts time from before its first evaluation.)

Resuming replays the log: NOMAD is deterministic for a given seed, starting point and
sequence of answers, so a resumed run asks for the same points again and gets each
logged trial's recorded answer (no training) until it reaches the first point that was
never finished, from where it continues as the original run would have. The budget and
the trial count cover the whole tuning, logged trials included.

``write_best`` writes the best trial's configuration as ``best.json`` and as
``train_cifar.py`` flags. This module imports neither torch nor NOMAD until ``tune``
runs.
"""
from __future__ import annotations

import dataclasses
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from monas.io import append_line, atomic_write, read_lines
from monas.train.config import BEST, BEST_FLAGS, MAX_SECONDS, TRIALS, TrainConfig
from monas.tune.space import TuningSpace

BUDGET_SPENT = "time budget spent"


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
        return _key(self.values)

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
    if not 0 < time_budget <= MAX_SECONDS:
        raise ValueError(f"time_budget must be positive and at most {MAX_SECONDS:g} seconds, got {time_budget}")
    if max_trials is not None and max_trials < 1:
        raise ValueError(f"max_trials must be at least 1, got {max_trials}")
    Path(out).mkdir(parents=True, exist_ok=True)
    session = _Session(objective, space, Path(out) / TRIALS, time_budget, log, on_trial)
    if session.remaining <= 0:
        stop_reason = BUDGET_SPENT
    elif max_trials is not None and len(session.answers) >= max_trials:
        stop_reason = "trial limit reached"
    else:
        stop_reason = session.optimize(seed, max_trials)
    done = [t for t in session.trials if t.status == "ok"]
    best = min(done, key=lambda t: t.objective) if done else None
    return TuningResult(session.trials, best, stop_reason, max((t.elapsed for t in session.trials), default=0.0))


class _Session:
    """One call of ``tune``: the logged trials (the answers NOMAD gets again), the
    deadline, and NOMAD's blackbox, which runs or replays a trial per point."""

    def __init__(self, objective: Objective, space: TuningSpace, path: Path, time_budget: float,
                 log: Callable[[str], None], on_trial: Callable[[Trial], None] | None) -> None:
        self.objective, self.space, self.path, self.log, self.on_trial = objective, space, path, log, on_trial
        self.trials: list[Trial] = read_lines(path, Trial.from_json)
        self.answers = {t.key: t for t in self.trials if t.status in ("ok", "failed")}
        self.spent = max((t.elapsed for t in self.trials), default=0.0)
        self.start = time.monotonic()
        self.remaining = time_budget - self.spent
        self.deadline = self.start + self.remaining
        self.stop_reason: str | None = None  # set once the blackbox must answer without running
        self.error: BaseException | None = None  # raised again once NOMAD has returned

    def optimize(self, seed: int, max_trials: int | None) -> str:
        """Run NOMAD from the space's defaults; why it stopped."""
        import PyNomad

        params = ["BB_OUTPUT_TYPE OBJ", *self.space.nomad_parameters(), f"SEED {seed}", "DISPLAY_DEGREE 0",
                  f"MAX_TIME {math.ceil(self.remaining) + 1}"]
        if max_trials is not None:
            params.append(f"MAX_BB_EVAL {max_trials}")
        PyNomad.setSeed(seed)  # the SEED parameter alone leaves the process-wide generator where it was
        result = PyNomad.optimize(self.blackbox, self.space.x0, self.space.lower, self.space.upper, params)
        if self.error is not None:
            raise self.error
        return self.stop_reason or (
            BUDGET_SPENT if "allowed time" in result["stop_reason"] else f"NOMAD: {result['stop_reason']}"
        )

    def blackbox(self, point) -> int:
        """NOMAD's evaluation of ``point``: 1 with the objective set, 0 for a failure."""
        if self.stop_reason is not None:
            return 0
        try:
            trial = self.trial([point.get_coord(i) for i in range(point.size())])
        except BaseException as exc:  # noqa: BLE001 - NOMAD swallows exceptions: keep it, stop, re-raise after NOMAD
            self.stop_reason = "interrupted" if isinstance(exc, KeyboardInterrupt) else "error"
            self.error = exc
            return 0
        if trial is None or trial.status != "ok":
            return 0
        point.setBBO(repr(trial.objective).encode("utf-8"))
        return 1

    def trial(self, x: list[float]) -> Trial | None:
        """The logged trial of point ``x``'s configuration, or a new one run, logged and
        reported; None once the budget is spent."""
        values = self.space.decode(x)
        if _key(values) in self.answers:
            return self.answers[_key(values)]
        if time.monotonic() >= self.deadline:
            self.stop_reason = BUDGET_SPENT
            return None
        start = time.monotonic()
        objective, info, status = self.run(values)
        end = time.monotonic()
        trial = Trial(len(self.trials), values, list(x), objective if status == "ok" else None,
                      end - start, status, info, self.spent + end - self.start)
        append_line(self.path, trial.to_json())
        self.trials.append(trial)
        if self.on_trial is not None:
            self.on_trial(trial)
        if status != "cut":
            self.answers[trial.key] = trial
        shown = f"error {trial.objective:.2f}%" if trial.status == "ok" else trial.status
        self.log(f"trial {trial.number}: {shown} in {trial.seconds:.1f}s  {_short(values)}")
        return trial

    def run(self, values: dict) -> tuple[float | None, dict, str]:
        """(objective, info, status) of the objective at ``values``: ok, failed (an
        exception or a non-finite objective, the error in ``info``) or cut."""
        try:
            objective, info = self.objective(values, self.deadline)
        except TrialCut:
            self.stop_reason = BUDGET_SPENT
            return None, {}, "cut"
        except Exception as exc:  # noqa: BLE001 - a failed trial is recorded and tuning goes on
            return None, {"error": f"{type(exc).__name__}: {exc}"}, "failed"
        if not math.isfinite(objective):
            return objective, {**info, "error": f"objective is {objective}"}, "failed"
        return objective, info, "ok"


def _key(values: dict) -> str:
    return json.dumps(values, sort_keys=True)


def _short(values: dict) -> str:
    return " ".join(f"{k}={v}" for k, v in values.items())


def write_best(out: str | Path, best: Trial, config: TrainConfig, flags: list[str]) -> None:
    """``best.json`` (the best trial, its full TrainConfig and ``flags``) and
    ``best_flags.txt`` (``flags``, one line: the ``train_cifar.py`` flags that train the
    same configuration, ``monas.train.flags.config_flags``), written atomically."""
    out = Path(out)
    summary = {"trial": best.to_json(), "config": dataclasses.asdict(config), "flags": flags}
    atomic_write(out / BEST, json.dumps(summary, indent=2) + "\n")
    atomic_write(out / BEST_FLAGS, " ".join(flags) + "\n")
