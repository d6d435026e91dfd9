"""The ``run_nsga`` command: argv -> SearchConfig -> ``monas.search.driver.run``.

Input is checked before anything heavy is imported or loaded: this module imports no
torch, ``--help`` reads the registries from source, and a taken ``--out`` is refused
before the search spaces and estimators are imported. Exit codes: ``monas.cli.common``.
"""
from __future__ import annotations

import argparse
import os
from dataclasses import fields
from typing import Sequence

from monas.cli.common import (
    OneLineParser,
    OutPolicy,
    UsageError,
    check_flags,
    check_out_folder,
    known_names,
    lookup,
    parse_options,
    recorded_config,
    registries_epilog,
    run_command,
    validate,
)
from monas.registry import ALGORITHMS, DATASETS, ESTIMATORS, SPACES
from monas.search.config import DEFAULT_ESTIMATOR_WHY, SearchConfig
from monas.search.objectives import BOUNDED, OBJECTIVES_HELP, describe_bounds, measured_quantities, parse_bound
from monas.search.record import RUN_FILES

PROG = "run_nsga"


RESUME_OVERRIDES = {"generations", "device", "workers", "scheduler", "cluster", "cluster_config", "resume", "progress"}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser. Defaults are applied after parsing, so that ``--resume``
    can tell which flags were given."""
    p = OneLineParser(
        prog=PROG,
        description="Multi-objective NAS: NSGA-II (or --algorithm) over a search space, accuracy estimated by "
        "random-weight evaluation, complexity counted by thop. Writes config.json, archive.jsonl, "
        "generations.csv, pareto.json and pareto.png into --out.",
        epilog=registries_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        argument_default=argparse.SUPPRESS,
    )
    d = SearchConfig(out="")
    p.add_argument("--space", help=f"search space (known: {', '.join(known_names(SPACES))}; default {d.space})")
    p.add_argument("--space-option", "-S", action="append", metavar="KEY=VALUE", dest="space_options",
                   help="search-space setting, repeatable (each space's settings: below)")
    p.add_argument("--dataset", help=f"{', '.join(known_names(DATASETS))} (default {d.dataset})")
    p.add_argument("--data-dir", help="dataset folder: an ImageFolder tree, or where torchvision finds/downloads cifar10")
    p.add_argument("--pop-size", type=int, help=f"population size (default {d.pop_size})")
    p.add_argument("--generations", type=int, help=f"number of generations (default {d.generations})")
    p.add_argument("--algorithm", help=f"search algorithm (known: {', '.join(known_names(ALGORITHMS))}; default {d.algorithm}; "
                   "random: random search, to compare with)")
    p.add_argument("--crossover", type=float, metavar="P", help="probability of uniform crossover between two parents, "
                   "0 to 1, before each child's one-gene mutation (default: the space's own rate, chosen by measurement; "
                   "README: Search)")
    p.add_argument("--seed", type=int, help=f"seed of the search and of the estimator (default {d.seed})")
    p.add_argument("--objectives", help=f"{OBJECTIVES_HELP} (default {d.objectives})")
    p.add_argument("--max-macs", metavar="N", help="search only networks of at most N MACs per image (e.g. 600M; K, M, G)")
    p.add_argument("--max-params", metavar="N", help="search only networks of at most N parameters (e.g. 3.5M; K, M, G)")
    p.add_argument("--max-latency", metavar="MS", help="search only networks whose measured latency is at most MS milliseconds")
    p.add_argument("--latency-device", help="where latency is measured: auto, cpu, cuda or cuda:N (default: --device; on "
                   "Dask workers, each worker's own device)")
    p.add_argument("--latency-batch", type=int, help=f"images per timed forward pass (default {d.latency_batch})")
    p.add_argument("--estimator", help=f"accuracy estimator (known: {', '.join(known_names(ESTIMATORS))}; default {d.estimator}: {DEFAULT_ESTIMATOR_WHY})")
    p.add_argument("--estimator-option", "-E", action="append", metavar="KEY=VALUE", dest="estimator_options",
                   help="estimator setting, repeatable (each estimator's settings: below)")
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


def config_from_args(args: argparse.Namespace) -> tuple[SearchConfig, bool, bool]:
    """(config, resume, overwrite) from parsed arguments, validated."""
    given = vars(args)
    policy = OutPolicy("resume" in given, bool(given.get("overwrite")), resume_takes_out=True)
    if policy.resume:
        extra = sorted(set(given) - RESUME_OVERRIDES)
        if extra:
            raise UsageError(f"with --resume the run's own settings apply; drop --{extra[0].replace('_', '-')}")
        config = recorded_config(given["resume"])
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
    d = SearchConfig(out="")
    values["bounds"] = _bounds(given)
    _latency_settings(values, d)
    space, estimator = values.get("space", d.space), values.get("estimator", d.estimator)
    values.setdefault("out", os.path.join("runs", f"{space}-{values.get('dataset', d.dataset)}-seed{values.get('seed', d.seed)}"))
    if "early_stop" in given and estimator != "train":
        raise UsageError(f"--early-stop needs --estimator train (got {estimator})")
    # everything that can be checked without importing the spaces and estimators, first
    check_flags(SearchConfig(**{**values, "space_options": {}, "estimator_options": {}}))
    check_out_folder(values["out"])
    found = [name for name in RUN_FILES if os.path.exists(os.path.join(values["out"], name))]
    policy.decide(values["out"], found, "a run")
    values["space_options"] = parse_options(values.get("space_options", []), lookup(SPACES, space), "space")
    values["estimator_options"] = parse_options(
        values.get("estimator_options", []), lookup(ESTIMATORS, estimator), "estimator", reserved=("seed",)
    )
    if "early_stop" in given:
        values["estimator_options"]["early_stop"] = given["early_stop"]
    from monas.search.algorithms import crosses_over  # imports pymoo and the spaces: only once the flags are checked

    if "crossover" not in values and crosses_over(values.get("algorithm", d.algorithm)):
        values["crossover"] = float(lookup(SPACES, space).crossover)  # recorded: a resume keeps it
    config = SearchConfig(**values)
    validate(config)
    return config, False, bool(given.get("overwrite"))


def _bounds(given: dict) -> dict:
    """The ``--max-*`` bounds given, parsed: name -> number."""
    try:
        return {name: parse_bound(name, given[f"max_{name}"]) for name in BOUNDED if f"max_{name}" in given}
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _latency_settings(values: dict, d: SearchConfig) -> None:
    """Refuse latency flags for a search that measures no latency; otherwise default
    ``latency_device`` to the search's device (recorded, so a resume with another
    ``--device`` still times on the first one)."""
    try:
        measured = "latency" in measured_quantities(values.get("objectives", d.objectives), values["bounds"])
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    for flag in ("latency_device", "latency_batch"):
        if flag in values and not measured:
            raise UsageError(f"--{flag.replace('_', '-')} needs latency measured: add latency to --objectives or give --max-latency")
    if measured:
        values.setdefault("latency_device", values.get("device", d.device))


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


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``experiments/run_nsga.py`` and the ``monas-nsga`` console script."""

    def work() -> int:
        args = build_parser().parse_args(argv)
        config, resume, overwrite = config_from_args(args)
        from monas.search.driver import run  # imports torch and the rest: only once the input is checked

        result = run(config, resume=resume, overwrite=overwrite, progress=getattr(args, "progress", True))
        failed = sum(e.status != "ok" for e in result.evaluations)
        print(
            f"done: {len(result.evaluations)} networks evaluated ({failed} failed), "
            f"{len(result.pareto)} on the front; results in {config.out}"
        )
        if config.bounds and not result.pareto:
            print(f"no evaluated network meets {describe_bounds(config.bounds)}: pareto.json holds an empty front")
        return 0

    return run_command(PROG, work, "continue with --resume")

