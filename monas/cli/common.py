"""What the monas commands share: the one-line-error parser and exit codes
(``run_command``), ``KEY=VALUE`` and ``-S``/``-E`` option parsing (a factory's signature
is the option schema), name lookups in the registries, the checks of a search
configuration, an output folder and a Dask scheduler, and ``OutPolicy``: what to do
with a run already in the output (new, resume, overwrite or refuse). Devices:
``monas.device.resolve_device``; what the training commands share beyond this:
``monas.cli.training``.

Exit codes: 0 done, 2 bad input (one line on stderr, nothing of an earlier run
changed), 130 interrupted (the run directory can be resumed).

This module imports no torch: ``--help`` reads the registries from source
(``monas.cli.catalog``), and bad input is refused before anything heavy is imported.
"""
from __future__ import annotations

import argparse
import inspect
import math
import os
import socket
import sys
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Callable, Sequence
from urllib.parse import urlsplit

from monas.cli.catalog import describe
from monas.device import resolve_device
from monas.errors import ArchitectureError, ClusterError, DatasetError, RunDirError, UsageError  # UsageError: re-exported
from monas.registry import ALGORITHMS, DATASETS, ESTIMATORS, SPACES, Registry, UnknownNameError
from monas.search.config import SearchConfig
from monas.search.objectives import check_bounds, parse_objectives
from monas.search.record import RunRecord

USER_ERRORS = (UnknownNameError, ArchitectureError, DatasetError, RunDirError, ClusterError)


# Upper bounds on sizes, so that a typo cannot exhaust memory or start a million
# processes: per search (population, generations, workers, seed) and per space or
# estimator option (by name; numeric options without a bound here only need to be
# finite and non-negative, counts at least 1).
LIMITS = {"pop_size": 10_000, "generations": 100_000, "workers": 256, "latency_batch": 4096}


MAX_SEED = 2**32 - 1


OPTION_LIMITS = {
    "init_channels": 1024, "channels": 1024, "layers": 100, "blocks": 16, "cells_per_stage": 100, "width": 8.0,
    "n_inits": 100, "batch_size": 100_000, "epochs": 10_000, "reference": 1_000_000,
}


SCHEDULER_TIMEOUT_S = 3.0


class OneLineParser(argparse.ArgumentParser):
    """argparse with its errors raised as UsageError (one line) instead of usage + exit."""

    def error(self, message: str):  # one line instead of usage + message
        raise UsageError(message)


def known_names(registry: Registry) -> list[str]:
    """The names ``registry`` holds, read from source (nothing imported)."""
    return [entry.name for entry in describe(registry)]


def registries_epilog() -> str:
    """Every search space's -S settings and architecture string form, every estimator's
    -E settings (defaults shown) and the datasets, generated from the registries."""
    lines = ["search spaces: -S settings (defaults), then the architecture string form:"]
    for entry in describe(SPACES):
        lines += [f"  {entry.name:<12} {entry.settings() or '(no settings)'}", f"  {'':<12} {entry.arch_format}"]
    lines.append("estimators: -E settings (defaults); n_train/n_val left at their defaults shrink to fit the dataset:")
    lines += [f"  {entry.name:<12} {entry.settings() or '(no settings)'}" for entry in describe(ESTIMATORS)]
    lines.append(f"datasets: {', '.join(known_names(DATASETS))}")
    return "\n".join(lines)


def add_dataset_flags(p: argparse.ArgumentParser, default: str = "cifar10") -> None:
    """``--dataset`` (default ``default``; absent from the namespace unless given when the
    parser's ``argument_default`` is SUPPRESS) and ``--data-dir``."""
    given_only = p.argument_default == argparse.SUPPRESS
    p.add_argument("--dataset", **({} if given_only else {"default": default}),
                   help=f"{', '.join(known_names(DATASETS))} (default {default})")
    p.add_argument("--data-dir", help="dataset folder: an ImageFolder tree, or where torchvision finds (or downloads) "
                   "the CIFAR files")


def parse_options(pairs: Sequence[str], factory: Callable, what: str, reserved: Sequence[str] = ()) -> dict:
    """``["k=v", ...]`` -> kwargs of ``factory``, each value converted to the type of the
    parameter's default and checked by ``check_options``; UsageError for unknown keys or
    bad values."""
    params = option_defaults(factory, reserved)
    options = {}
    for key, text in key_values(pairs, f"{what} option").items():
        if key not in params:
            raise UsageError(f"unknown {what} option {key!r} (known: {', '.join(params) or 'none'})")
        kind = type(params[key])
        try:
            options[key] = _convert(text, kind)
        except ValueError:
            raise UsageError(f"{what} option {key}={text!r} is not a valid {kind.__name__}") from None
    return check_options(options, factory, what, reserved)


def key_values(pairs: Sequence[str], what: str) -> dict[str, str]:
    """``["KEY=VALUE", ...]`` as a dict of strings (a later KEY wins); UsageError naming
    ``what`` (e.g. ``--net``) for a pair without ``=`` or without a key."""
    values = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"{what} {pair!r} is not KEY=VALUE")
        values[key] = value
    return values


def option_defaults(factory: Callable, reserved: Sequence[str] = ()) -> dict:
    """The settable parameters of ``factory`` and their defaults."""
    return {
        name: p.default
        for name, p in inspect.signature(factory).parameters.items()
        if p.default is not inspect.Parameter.empty and name not in reserved
    }


def check_options(options: dict, factory: Callable, what: str, reserved: Sequence[str] = ()) -> dict:
    """``options`` unchanged when every key is a parameter of ``factory`` and every value
    has its default's type, numbers finite, non-negative, counts at least 1 and within
    ``OPTION_LIMITS``; UsageError naming the first that is not."""
    params = option_defaults(factory, reserved)
    for key, value in options.items():
        if key not in params:
            raise UsageError(f"unknown {what} option {key!r} (known: {', '.join(params) or 'none'})")
        kind = type(params[key])
        if not (isinstance(value, kind) and (kind is bool or not isinstance(value, bool))) and not (
            kind is float and type(value) is int
        ):
            raise UsageError(f"{what} option {key}={value!r} is not a {kind.__name__}")
        if kind in (int, float):
            least = 1 if kind is int else 0
            if not (math.isfinite(value) and value >= least):
                raise UsageError(f"{what} option {key}={value!r} must be a finite number of at least {least}")
            if key in OPTION_LIMITS and value > OPTION_LIMITS[key]:
                raise UsageError(f"{what} option {key}={value!r} is above the limit of {OPTION_LIMITS[key]}")
    return options


def _convert(text: str, kind: type):
    if kind is bool:
        if text.lower() not in ("true", "false", "1", "0"):
            raise ValueError(text)
        return text.lower() in ("true", "1")
    return kind(text)


def lookup(registry: Registry, name: str):
    """The factory registered as ``name``; UsageError listing the known names otherwise."""
    try:
        return registry.get(name)
    except UnknownNameError as exc:
        raise UsageError(str(exc)) from None


def create(registry: Registry, name: str, **options):
    """``registry.create(name, **options)``; UsageError for an unknown name or an option
    value the factory refuses."""
    try:
        return registry.create(name, **options)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def check_name(registry: Registry, name: str) -> None:
    """UsageError listing the known names unless ``registry`` holds ``name`` (read from
    source: nothing imported)."""
    known = known_names(registry)
    if name not in known:
        raise UsageError(f"unknown {registry.kind} {name!r} (known: {', '.join(known)})")


_FIELD_TYPES = {"str": (str,), "str | None": (str, type(None)), "int": (int,), "dict": (dict,), "dict | None": (dict, type(None)),
                "float | None": (int, float, type(None))}


def recorded_config(folder: str) -> SearchConfig:
    """The SearchConfig recorded in ``folder``/config.json; RunDirError when the file is
    missing, unreadable or holds something this version of monas did not write."""
    recorded = RunRecord.open(folder).read_config()
    problem = f"{folder}/config.json was not written by this version of monas (or was edited)"
    settings = recorded.get("config") if isinstance(recorded, dict) else None
    types = {f.name: _FIELD_TYPES[str(f.type)] for f in fields(SearchConfig)}
    if not isinstance(settings, dict) or not set(settings) <= set(types) or "out" not in settings:
        raise RunDirError(problem)
    settings.setdefault("crossover", 0.0)  # recorded before --crossover existed: those searches did not cross over
    for key, value in settings.items():
        if not isinstance(value, types[key]) or isinstance(value, bool):
            raise RunDirError(f"{problem}: {key} is {value!r}")
    try:
        config = SearchConfig(**settings)
        config.space_options = check_options(config.space_options, lookup(SPACES, config.space), "space")
        config.estimator_options = check_options(
            config.estimator_options, lookup(ESTIMATORS, config.estimator), "estimator", reserved=("seed",)
        )
    except UsageError as exc:
        raise RunDirError(f"{problem}: {exc}") from None
    return config


def check_flags(config: SearchConfig) -> None:
    """The checks of ``validate`` that need no search space or estimator imported:
    bounds, numbers in range, known names, objectives, the cluster flags."""
    for name, limit in LIMITS.items():
        if getattr(config, name) > limit:
            raise UsageError(f"--{name.replace('_', '-')} {getattr(config, name)} is above the limit of {limit}")
    if not 0 <= config.seed <= MAX_SEED:
        raise UsageError(f"--seed must be between 0 and {MAX_SEED}, got {config.seed}")
    if config.pop_size < 2:
        raise UsageError(f"--pop-size must be at least 2, got {config.pop_size}")
    if config.generations < 1:
        raise UsageError(f"--generations must be at least 1, got {config.generations}")
    if config.workers < 1:
        raise UsageError(f"--workers must be at least 1, got {config.workers}")
    if config.latency_batch < 1:
        raise UsageError(f"--latency-batch must be at least 1, got {config.latency_batch}")
    if config.crossover is not None and not 0 <= config.crossover <= 1:
        raise UsageError(f"--crossover must be a probability from 0 to 1, got {config.crossover}")
    if config.scheduler is not None and (config.workers != 1 or config.slurm is not None):
        raise UsageError("--scheduler uses the workers of that cluster; drop --workers and --cluster")
    for registry, name in ((SPACES, config.space), (ESTIMATORS, config.estimator), (DATASETS, config.dataset),
                           (ALGORITHMS, config.algorithm)):
        check_name(registry, name)
    try:
        parse_objectives(config.objectives)
        check_bounds(config.bounds)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def validate(config: SearchConfig) -> None:
    """UsageError (or ClusterError) for the first setting of ``config`` that cannot work,
    short of loading data: ``check_flags``, then the space and estimator built with their
    options, the device, the scheduler's address."""
    check_flags(config)
    from monas.search.algorithms import crosses_over

    if config.crossover and not crosses_over(config.algorithm):
        raise UsageError(f"--crossover: the {config.algorithm} algorithm breeds no children to cross over")
    create(SPACES, config.space, **config.space_options)
    create(ESTIMATORS, config.estimator, **config.estimator_options)
    resolve_device(config.device)
    if config.latency_device is not None:
        resolve_device(config.latency_device, "--latency-device")
    if config.scheduler is not None:
        check_scheduler(config.scheduler)


def check_out_folder(out: str, what: str = "--out") -> None:
    """UsageError when the folder ``out`` could not be created or written: an empty
    name, a file in its place or on its path, or a nearest existing folder that the
    operating system says this process cannot write. Creates nothing."""
    if not out.strip():
        raise UsageError(f"{what} must name a folder, got {out!r}")
    path = Path(out)
    existing = next(p for p in (path, *path.absolute().parents) if p.exists() or p.is_symlink())
    if not existing.is_dir():
        where = "is a file" if existing == path else f"lies under {existing}, which is a file"
        raise UsageError(f"{what} {out} {where}, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError(f"{what} {out}: {existing} is not writable by this user")


NEW, RESUME, OVERWRITE = "new", "resume", "overwrite"


@dataclass(frozen=True)
class OutPolicy:
    """What a command was told to do with a run already in its output: continue it
    (``resume``), replace it (``overwrite``; None for a command that has no
    ``--overwrite``) or, given neither, refuse it. Made as soon as the flags are parsed
    (UsageError for both); ``decide`` answers once the output has been looked at, in
    the same words for every command. ``resume_takes_out``: ``--resume`` names the
    folder (run_nsga)."""

    resume: bool
    overwrite: bool | None = False
    resume_takes_out: bool = False

    def __post_init__(self) -> None:
        if self.resume and self.overwrite:
            raise UsageError("--resume and --overwrite exclude each other")

    def decide(self, out: str | os.PathLike, found: Sequence[str], what: str) -> str:
        """RESUME when resuming (the command checks what ``out`` holds), else NEW when
        ``found`` is empty, else OVERWRITE when overwriting; UsageError otherwise.
        ``found``: the files of ``what`` (a run of this command) in the folder ``out``,
        most telling first, or ``out`` itself when it is an existing file."""
        if self.resume:
            return RESUME
        if not found:
            return NEW
        if self.overwrite:
            return OVERWRITE
        held = f"{what} ({found[0]})" if Path(out).is_dir() else what
        resume = f"--resume {out}" if self.resume_takes_out else "--resume"
        other = "choose another --out" if self.overwrite is None else "--overwrite to replace it"
        raise UsageError(f"{out} already holds {held}; pass {resume} to continue it or {other}")


def check_scheduler(address: str) -> None:
    """ClusterError unless a TCP connection to the Dask scheduler at ``address``
    (tcp://, tls://, ws:// or wss://host:port) opens within SCHEDULER_TIMEOUT_S seconds."""
    parts = urlsplit(address if "://" in address else f"tcp://{address}")
    try:
        port = parts.port
    except ValueError:
        port = None
    if parts.scheme not in ("tcp", "tls", "ws", "wss") or not parts.hostname or port is None:
        raise ClusterError(f"--scheduler {address!r} is not a Dask scheduler address such as tcp://host:8786")
    try:
        socket.create_connection((parts.hostname, port), timeout=SCHEDULER_TIMEOUT_S).close()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ClusterError(f"no Dask scheduler answers at {address} ({reason}); start it or fix --scheduler") from None


def run_command(prog: str, work: Callable[[], int], on_interrupt: str) -> int:
    """``work()``'s exit code; a user error gives one line on stderr and 2, Ctrl-C a line
    ending in ``on_interrupt`` and 130. Shared by the monas commands."""
    try:
        return work()
    except (UsageError, *USER_ERRORS) as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{prog}: interrupted; {on_interrupt}", file=sys.stderr)
        return 130

