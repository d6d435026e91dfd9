"""The ``run_nsga`` command: argv -> SearchConfig, with one-line errors and exit codes.

Exit codes: 0 done, 2 bad input (one line on stderr, nothing of an earlier run
changed), 130 interrupted (the run directory can be resumed).
"""
from __future__ import annotations

import argparse
import inspect
import os
import sys
from dataclasses import fields
from typing import Callable, Sequence

import torch

import search_spaces
from monas import estimators
from monas.data import DATASETS, DatasetError
from monas.objectives import OBJECTIVE_SETS, parse_objectives
from monas.record import RunDirError, RunRecord
from monas.registry import Registry, UnknownNameError
from monas.runners import ClusterError
from monas.search import SearchConfig, run
from search_spaces.base import ArchitectureError

PROG = "run_nsga"
USER_ERRORS = (UnknownNameError, ArchitectureError, DatasetError, RunDirError, ClusterError)
RESUME_OVERRIDES = {"generations", "device", "workers", "scheduler", "cluster", "cluster_config", "resume", "progress"}


class UsageError(ValueError):
    """Bad command-line input."""


class OneLineParser(argparse.ArgumentParser):
    """argparse with its errors raised as UsageError (one line) instead of usage + exit."""

    def error(self, message: str):  # one line instead of usage + message
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser. Defaults are applied after parsing, so that ``--resume``
    can tell which flags were given."""
    p = OneLineParser(
        prog=PROG,
        description="Multi-objective NAS: NSGA-II over a search space, accuracy estimated by "
        "random-weight evaluation, complexity counted by thop. Writes config.json, archive.jsonl, "
        "generations.csv, pareto.json and pareto.png into --out.",
        argument_default=argparse.SUPPRESS,
    )
    d = SearchConfig(out="")
    p.add_argument("--space", help=f"search space (known: {', '.join(search_spaces.SPACES.names())}; default {d.space})")
    p.add_argument("--space-option", "-S", action="append", metavar="KEY=VALUE", dest="space_options",
                   help="search-space setting, repeatable; darts: init_channels=16 layers=8 blocks=4")
    p.add_argument("--dataset", help=f"{', '.join(DATASETS.names())} (default {d.dataset})")
    p.add_argument("--data-dir", help="dataset folder: an ImageFolder tree, or where torchvision finds/downloads cifar10")
    p.add_argument("--pop-size", type=int, help=f"population size (default {d.pop_size})")
    p.add_argument("--generations", type=int, help=f"number of generations (default {d.generations})")
    p.add_argument("--seed", type=int, help=f"seed of the search and of the estimator (default {d.seed})")
    p.add_argument("--objectives", help=f"{' | '.join(OBJECTIVE_SETS)} (default {d.objectives})")
    p.add_argument("--estimator", help=f"accuracy estimator (known: {', '.join(estimators.ESTIMATORS.names())}; default {d.estimator})")
    p.add_argument("--estimator-option", "-E", action="append", metavar="KEY=VALUE", dest="estimator_options",
                   help="estimator setting, repeatable; rwe: n_train=2000 n_val=1000 head=ridge|logistic alpha=1e-3 n_inits=1 batch_size=250")
    p.add_argument("--early-stop", choices=("none", "curve"), help="train estimator only: stop each network's training "
                   "once its PEng4NN learning-curve prediction has converged, and score it by the predicted error "
                   "(same as -E early_stop=...; default none)")
    p.add_argument("--device", help="auto (CUDA when present), cpu, cuda or cuda:N (default auto)")
    p.add_argument("--workers", type=int, help="evaluate in parallel on a local Dask cluster of N worker processes "
                   "(one GPU each where there are GPUs); 1 = in this process (default 1)")
    p.add_argument("--scheduler", metavar="ADDRESS", help="evaluate on the existing Dask cluster at ADDRESS (e.g. tcp://host:8786)")
    p.add_argument("--cluster", choices=("local", "slurm"), help="where --workers run: local processes, or SLURM jobs "
                   "started through dask-jobqueue with the settings of --cluster-config (default local)")
    p.add_argument("--cluster-config", metavar="FILE", help="YAML file of SLURM job settings (dask-jobqueue SLURMCluster keywords)")
    p.add_argument("--out", help="run directory (default runs/<space>-<dataset>-seed<seed>)")
    p.add_argument("--resume", metavar="DIR", help="continue the run in DIR (may raise --generations, change --device)")
    p.add_argument("--overwrite", action="store_true", help="replace a run already in --out")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    return p


def parse_options(pairs: Sequence[str], factory: Callable, what: str, reserved: Sequence[str] = ()) -> dict:
    """``["k=v", ...]`` -> kwargs of ``factory``, each value converted to the type of the
    parameter's default; UsageError for unknown keys or bad values."""
    params = {
        name: p.default
        for name, p in inspect.signature(factory).parameters.items()
        if p.default is not inspect.Parameter.empty and name not in reserved
    }
    options = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep:
            raise UsageError(f"{what} option {pair!r} is not KEY=VALUE")
        if key not in params:
            raise UsageError(f"unknown {what} option {key!r} (known: {', '.join(params) or 'none'})")
        kind = type(params[key])
        try:
            options[key] = _convert(text, kind)
        except ValueError:
            raise UsageError(f"{what} option {key}={text!r} is not a valid {kind.__name__}") from None
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


def config_from_args(args: argparse.Namespace) -> tuple[SearchConfig, bool, bool]:
    """(config, resume, overwrite) from parsed arguments, validated."""
    given = vars(args)
    if "resume" in given:
        if "overwrite" in given:
            raise UsageError("--resume and --overwrite exclude each other")
        extra = sorted(set(given) - RESUME_OVERRIDES)
        if extra:
            raise UsageError(f"with --resume the run's own settings apply; drop --{extra[0].replace('_', '-')}")
        recorded = RunRecord.open(given["resume"]).read_config()
        try:
            config = SearchConfig(**recorded["config"])
        except (KeyError, TypeError):
            raise RunDirError(f"{given['resume']}/config.json was not written by this version of monas") from None
        config.out = given["resume"]
        if "generations" in given:
            config.generations = given["generations"]
        for key in ("device", "workers", "scheduler"):
            if key in given:
                setattr(config, key, given[key])
        if "cluster" in given or "cluster_config" in given:
            config.slurm = _slurm_settings(given)
        validate(config)
        return config, True, False

    known = {f.name for f in fields(SearchConfig)}
    values = {k: v for k, v in given.items() if k in known}
    values["slurm"] = _slurm_settings(given)
    space = values.get("space", "darts")
    values["space_options"] = parse_options(values.get("space_options", []), lookup(search_spaces.SPACES, space), "space")
    estimator = values.get("estimator", "rwe")
    values["estimator_options"] = parse_options(
        values.get("estimator_options", []), lookup(estimators.ESTIMATORS, estimator), "estimator", reserved=("seed",)
    )
    if "early_stop" in given:
        if estimator != "train":
            raise UsageError(f"--early-stop needs --estimator train (got {estimator})")
        values["estimator_options"]["early_stop"] = given["early_stop"]
    values.setdefault("out", os.path.join("runs", f"{space}-{values.get('dataset', 'cifar10')}-seed{values.get('seed', 0)}"))
    config = SearchConfig(**values)
    validate(config)
    return config, False, bool(given.get("overwrite"))


def _slurm_settings(given: dict) -> dict | None:
    """The SLURM job settings of ``--cluster slurm --cluster-config FILE``, or None."""
    if given.get("cluster", "local") == "local":
        if "cluster_config" in given:
            raise UsageError("--cluster-config needs --cluster slurm")
        return None
    if "cluster_config" not in given:
        raise UsageError("--cluster slurm needs --cluster-config FILE (SLURM job settings; see the README)")
    import yaml

    try:
        with open(given["cluster_config"]) as f:
            settings = yaml.safe_load(f)
    except OSError as exc:
        raise UsageError(f"cannot read --cluster-config {given['cluster_config']}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise UsageError(f"--cluster-config {given['cluster_config']} is not valid YAML ({type(exc).__name__})") from None
    if not isinstance(settings, dict):
        raise UsageError(f"--cluster-config {given['cluster_config']} must hold a mapping of SLURM job settings")
    try:
        import dask_jobqueue  # noqa: F401
    except ImportError:
        raise UsageError("--cluster slurm needs dask-jobqueue: pip install dask-jobqueue") from None
    return settings


def validate(config: SearchConfig) -> None:
    if config.pop_size < 2:
        raise UsageError(f"--pop-size must be at least 2, got {config.pop_size}")
    if config.generations < 1:
        raise UsageError(f"--generations must be at least 1, got {config.generations}")
    if config.workers < 1:
        raise UsageError(f"--workers must be at least 1, got {config.workers}")
    if config.scheduler is not None and (config.workers != 1 or config.slurm is not None):
        raise UsageError("--scheduler uses the workers of that cluster; drop --workers and --cluster")
    lookup(DATASETS, config.dataset)
    try:
        parse_objectives(config.objectives)
        search_spaces.SPACES.create(config.space, **config.space_options)
        estimators.ESTIMATORS.create(config.estimator, **config.estimator_options)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    check_device(config.device)


def check_device(name: str) -> None:
    """UsageError unless ``name`` is auto or a torch device this machine has."""
    if name == "auto":
        return
    try:
        device = torch.device(name)
    except RuntimeError:
        raise UsageError(f"unknown --device {name!r} (auto, cpu, cuda or cuda:N)") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda asked for, but no CUDA device is available; use --device cpu or auto")


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


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``experiments/run_nsga.py`` and the ``monas-nsga`` console script."""

    def work() -> int:
        args = build_parser().parse_args(argv)
        config, resume, overwrite = config_from_args(args)
        result = run(config, resume=resume, overwrite=overwrite, progress=getattr(args, "progress", True))
        failed = sum(e.status != "ok" for e in result.evaluations)
        print(
            f"done: {len(result.evaluations)} networks evaluated ({failed} failed), "
            f"{len(result.pareto)} on the front; results in {config.out}"
        )
        return 0

    return run_command(PROG, work, "continue with --resume")
