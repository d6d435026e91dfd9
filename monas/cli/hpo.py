"""The ``run_hpo`` command: tune the training hyperparameters and augmentation of one
architecture of any space (its CIFAR form, ``SearchSpace.build_for_training``; the
untuned settings from a recipe, default the space's own) with NOMAD
(``monas.tune.driver``), then train it with the best configuration.

Trials train on ``--n-train - --n-val`` training images and are scored on the other
``--n-val`` (the test split is never seen while tuning); the final training uses all
``--n-train`` images and reports the accuracy on ``--n-test`` test images. With
``--proxy prune:R`` every trial trains a copy of the network with a share R of its
channels removed (``monas.tune.pruning``), and the full network is trained only at the end.
``--haet`` follows the HAET challenge's protocol: 500 training and 100 test images per
class, every trial (and the final training) trains for ``--trial-budget`` seconds with
the learning-rate schedule fitted to that time.

``--out`` holds ``config.json``, ``trials.jsonl`` (one line per trial, appended and
fsynced), ``best.json``, ``best_flags.txt`` (the ``train_cifar.py`` flags of the best
configuration) and ``final.json`` (the full network's result).

Everything (flags, architecture, folder, device, dataset: the images used are decoded up
front; with ``--resume`` the recorded config.json and trials.jsonl) is checked before
anything is written. The folder is locked while tuning writes it. ``--overwrite``
moves the old run aside and deletes it only once the first new trial is logged; a
start that fails before that leaves the folder as it was, and a folder whose
config.json has no trial logged (a start killed early) holds no run and is reused.
``--resume`` of a finished run (``final.json``) with the same budgets changes nothing
and says so; a larger ``--time-budget`` or ``--max-trials`` continues it.

Exit codes: 0 done, 2 bad input (one line on stderr, no earlier result changed),
130 interrupted (continue with ``--resume``).
"""
from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from monas.cli.common import RESUME, OutPolicy, UsageError, check_out_folder
from monas.cli.networks import add_network_flags, network_settings, recipe_from_args, source_from_args
from monas.cli.recipes import recipe_config
from monas.cli.training import (
    FINAL,
    TUNING_FILES,
    add_output_flags,
    check_network_size,
    check_run_folder,
    recorded_settings,
    training_main,
    training_parser,
)
from monas.device import resolve_device
from monas.io import RunClaim, RunDirError, atomic_write, read_lines
from monas.search.record import RunRecord
from monas.train.config import BEST_FLAGS, MAX_EPOCHS, MAX_SECONDS, MAX_SEED, TRIALS
from monas.train.flags import config_flags

if TYPE_CHECKING:
    import torch

    from search_spaces.base import InputSpec

PROG = "run_hpo"
HAET_PER_CLASS = (500, 100)  # training and test images per class
RESUME_CHANGES = ("time_budget", "max_trials", "device")
MAX_TRIALS = 1_000_000
# run_hpo's own network size where the space has these settings (darts): smaller than train_cifar's.
TUNING_NETWORK = {"init_channels": 16, "layers": 8}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser."""
    p = training_parser(
        PROG,
        "Tune the training hyperparameters and data augmentation of one architecture of any space with "
        "NOMAD under a wall-clock budget, then train it with the best configuration. Writes config.json, trials.jsonl, "
        "best.json, best_flags.txt (train_cifar.py flags) and final.json into --out.",
    )
    p.add_argument("--n-train", type=int, help="training images used (default 5000; class-stratified)")
    p.add_argument("--n-val", type=int, help="of these, images held out to score trials (default n-train / 5)")
    p.add_argument("--n-test", type=int, help="test images for the final accuracy (default 1000)")
    add_network_flags(p, "cifar", "default 16 with 8 --layers")
    p.add_argument("--time-budget", type=float, default=3600.0, help="seconds of tuning in all (default 3600)")
    p.add_argument("--max-trials", type=int, help="at most this many trials (default: no limit)")
    p.add_argument("--min-epochs", type=int, default=1, help="fewest epochs a trial may train (default 1)")
    p.add_argument("--max-epochs", type=int, default=10, help="most epochs a trial may train (default 10)")
    p.add_argument("--proxy", default="none", help="none, or prune:R: tune on a copy with a share R of the channels "
                   "removed (0 < R < 1), then train the full network")
    p.add_argument("--early-stop", choices=("none", "curve"), default="none",
                   help="curve: stop a trial once its learning-curve prediction has converged; the predicted final "
                   "accuracy is its score")
    p.add_argument("--haet", action="store_true", help="the HAET protocol: 500 training / 100 test images per class, "
                   "each trial trains for --trial-budget seconds with the schedule fitted to it")
    p.add_argument("--trial-budget", type=float, help="with --haet: seconds of training per trial (default 60)")
    p.add_argument("--seed", type=int, default=0, help="seed of NOMAD, the weights and the subsets (default 0)")
    add_output_flags(p, "runs/hpo", "tuning")
    return p


def proxy_ratio(spec: str) -> float | None:
    """The pruning ratio of ``--proxy prune:R`` (None for ``none``)."""
    if spec == "none":
        return None
    kind, sep, value = spec.partition(":")
    try:
        ratio = float(value) if kind == "prune" and sep else None
    except ValueError:
        ratio = None
    if ratio is None or not 0 < ratio < 1:
        raise UsageError(f"--proxy must be none or prune:R with 0 < R < 1, got {spec!r}")
    return ratio


def settings_from_args(args: argparse.Namespace) -> dict:
    """The run's settings (what config.json records), validated."""
    if args.haet:
        if args.n_train is not None or args.n_test is not None:
            raise UsageError("--haet fixes the subsets (500 training and 100 test images per class); drop --n-train/--n-test")
        if args.early_stop != "none":
            raise UsageError("--early-stop curve needs a number of epochs to predict; --haet trains for a fixed time")
        trial_budget = 60.0 if args.trial_budget is None else args.trial_budget
        if not trial_budget > 0:
            raise UsageError(f"--trial-budget must be positive, got {trial_budget}")
    elif args.trial_budget is not None:
        raise UsageError("--trial-budget applies only with --haet")
    else:
        trial_budget = None
    source = source_from_args(args)
    (_, pick), *more = source.chosen
    if more:
        raise UsageError("run_hpo tunes one genotype (architecture); give one --genotype or --arch, or a --pick that "
                         "selects one member")
    network = network_settings(args, source.space, "cifar", TUNING_NETWORK)
    recipe, _ = recipe_from_args(args, source.space, "cifar")
    settings = {
        "space": source.space, "recipe": recipe, "genotype": pick.arch, "run": args.run,
        "member": pick.index if args.run else None, "dataset": args.dataset, "data_dir": args.data_dir,
        "n_train": 5000 if args.n_train is None else args.n_train, "n_val": args.n_val,
        "n_test": 1000 if args.n_test is None else args.n_test, **network, "time_budget": args.time_budget, "max_trials": args.max_trials,
        "min_epochs": args.min_epochs, "max_epochs": args.max_epochs, "proxy": proxy_ratio(args.proxy),
        "early_stop": args.early_stop, "haet": args.haet, "trial_budget": trial_budget, "seed": args.seed,
        "device": args.device,
    }
    if settings["n_val"] is None:
        settings["n_val"] = settings["n_train"] // 5
    if not 1 <= settings["n_val"] < settings["n_train"] or settings["n_test"] < 1:
        raise UsageError("need 1 <= --n-val < --n-train and --n-test >= 1")
    for flag, seconds in (("--time-budget", args.time_budget), ("--trial-budget", trial_budget)):
        if seconds is not None and not (math.isfinite(seconds) and 0 < seconds <= MAX_SECONDS):
            raise UsageError(f"{flag} must be positive and at most {MAX_SECONDS:g} seconds, got {seconds}")
    if args.max_trials is not None and not 1 <= args.max_trials <= MAX_TRIALS:
        raise UsageError(f"--max-trials must be between 1 and {MAX_TRIALS}, got {args.max_trials}")
    if not 1 <= args.min_epochs <= args.max_epochs <= MAX_EPOCHS:
        raise UsageError(f"need 1 <= --min-epochs <= --max-epochs <= {MAX_EPOCHS}")
    if not 0 <= args.seed <= MAX_SEED:
        raise UsageError(f"--seed must be between 0 and {MAX_SEED}, got {args.seed}")
    return settings


@dataclass
class TuningPlan:
    """What to do with ``--out``: ``finished`` (a finished run to leave as it is), or
    tune into it, continuing the logged trials (``resume``) or from scratch after moving
    the old files ``replace`` aside; ``write_config`` when config.json is to be written."""

    finished: bool = False
    resume: bool = False
    replace: tuple[str, ...] = ()
    write_config: bool = True


def plan_out(out: Path, policy: OutPolicy, settings: dict) -> TuningPlan:
    """Check ``out`` for tuning with ``settings`` (changing nothing):
    ``check_run_folder``, then a run already there as ``policy`` says: resumed (its
    config.json must match ``settings`` but for RESUME_CHANGES, and its trials.jsonl
    must be readable), replaced or refused. A config.json with no trial logged is a
    start that never ran: the folder is used as if empty."""
    check_run_folder(out, "tuning", PROG)
    logged = (out / TRIALS).exists() and (out / TRIALS).stat().st_size > 0
    found = [name for name, held in ((TRIALS, logged), (FINAL, (out / FINAL).exists())) if held]
    if policy.decide(out, found, "a run") == RESUME:
        from monas.tune.driver import Trial

        RunRecord.open(out)
        read_lines(out / TRIALS, Trial.from_json)  # a damaged log is reported before anything is rewritten
        recorded = recorded_settings(out / "config.json", settings, RESUME_CHANGES, "tunes with")
        same_budget = all(recorded.get(key) == settings[key] for key in ("time_budget", "max_trials"))
        if (out / FINAL).exists() and same_budget:
            return TuningPlan(finished=True)
        return TuningPlan(resume=True, write_config=any(recorded.get(k) != settings[k] for k in RESUME_CHANGES))
    return TuningPlan(replace=tuple(name for name in TUNING_FILES if (out / name).exists()))


def network_of(settings: dict) -> dict:
    """The settings of the CIFAR network that ``settings`` (a run's config.json) records."""
    from monas.registry import SPACES

    return {key: settings[key] for key in SPACES.create(settings["space"]).training_settings("cifar")}


def build_network(settings: dict, spec: InputSpec) -> torch.nn.Module:
    """The CIFAR form of ``settings``' architecture with the network settings it records."""
    from monas.registry import SPACES

    return SPACES.create(settings["space"]).build_for_training(settings["genotype"], spec, "cifar", **network_of(settings))


def _complexity(net: torch.nn.Module, spec: InputSpec) -> dict:
    from monas.complexity import count_complexity

    macs, params = count_complexity(net, spec)
    return {"macs": macs, "params": params}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``experiments/run_hpo.py`` and the ``monas-hpo`` console script."""

    def work(args: argparse.Namespace) -> int:
        policy = OutPolicy(args.resume, args.overwrite)
        settings = settings_from_args(args)
        check_out_folder(args.out)
        return plan_and_tune(args, policy, settings)

    return training_main(PROG, build_parser(), argv, work)


def plan_and_tune(args: argparse.Namespace, policy: OutPolicy, settings: dict) -> int:
    """Check the device, the dataset and the network, plan ``--out``, decode the images,
    then tune and train (the part of ``main`` that needs torch, imported here once the
    flags are checked); the exit code."""
    import torch

    from monas.data import load_dataset, stratified_split, stratified_subset

    device = resolve_device(settings["device"])
    train_images = load_dataset(settings["dataset"], settings["data_dir"], "train")
    test_images = load_dataset(settings["dataset"], settings["data_dir"], "test")
    spec = train_images.spec
    if settings["haet"]:
        n_classes = len(train_images.classes)
        settings["n_train"], settings["n_test"] = (k * n_classes for k in HAET_PER_CLASS)
        settings["n_val"] = settings["n_train"] // 5
    check_network_size(lambda: build_network(settings, spec), "the network")
    plan = plan_out(Path(args.out), policy, settings)
    if plan.finished:
        print(f"{PROG}: {args.out} has finished tuning with this budget ({Path(args.out) / FINAL}); nothing to do "
              "(raise --time-budget or --max-trials to tune on)", flush=True)
        return 0
    seed = settings["seed"]
    fit_idx, val_idx = stratified_split(train_images.labels, settings["n_train"] - settings["n_val"],
                                        settings["n_val"], seed)
    test_idx = stratified_subset(test_images.labels, settings["n_test"], seed)

    def tensors(images, idx):
        return images.images(idx), torch.from_numpy(images.labels[idx])

    # Decoded before anything is written: an unreadable image is reported with the earlier run untouched.
    fit, val = tensors(train_images, fit_idx), tensors(train_images, val_idx)
    all_train = tensors(train_images, np.sort(np.concatenate([fit_idx, val_idx])))
    test = tensors(test_images, test_idx)
    with RunClaim(Path(args.out), fresh=not plan.resume, files=TUNING_FILES, replace=plan.replace) as start:
        if plan.write_config:
            RunRecord(Path(args.out)).write_config(settings)
        return _tune_and_train(args, settings, device, spec, (fit, val, all_train, test), len(test_idx), start)


def _tune_and_train(args: argparse.Namespace, settings: dict, device: torch.device, spec: InputSpec, data: tuple,
                    n_test: int, start: RunClaim) -> int:
    """Tune, write best.json and best_flags.txt, train the full network with the best
    configuration and write final.json; ``start.start()`` once a trial is logged."""
    import torch

    from monas.tune.pruning import prune
    from monas.train.loop import train
    from monas.tune.driver import tune, write_best
    from monas.tune.objective import TrainingObjective
    from monas.tune.space import training_space

    fit, val, all_train, test = data
    seed = settings["seed"]
    torch.manual_seed(seed)
    network = build_network(settings, spec)
    full_cost = _complexity(network, spec)
    trial_network, proxy_cost = network, None
    if settings["proxy"] is not None:
        trial_network = prune(network, settings["proxy"], fit[0][:2].float())
        proxy_cost = _complexity(trial_network, spec)
        print(f"{PROG}: proxy prune:{settings['proxy']}: {proxy_cost['macs'] / 1e6:.2f}M MACs, "
              f"{proxy_cost['params'] / 1e6:.3f}M params; full network {full_cost['macs'] / 1e6:.2f}M MACs, "
              f"{full_cost['params'] / 1e6:.3f}M params", flush=True)

    haet = settings["haet"]
    space = training_space(settings["min_epochs"], settings["max_epochs"], tune_epochs=not haet)
    base = dataclasses.replace(
        recipe_config(settings["recipe"], "cifar"), epochs=settings["min_epochs"], auxiliary_weight=0.0, seed=seed,
        time_budget=settings["trial_budget"], loader_workers=0 if device.type == "cpu" else 2,
    )
    objective = TrainingObjective(trial_network, fit, val, base, device, early_stop=settings["early_stop"] == "curve",
                                  info={"proxy": settings["proxy"], **(proxy_cost or full_cost)})
    result = tune(objective, space, args.out, time_budget=settings["time_budget"],
                  max_trials=settings["max_trials"], seed=seed, log=lambda line: print(f"{PROG}: {line}", flush=True),
                  on_trial=lambda trial: start.start())
    ok = sum(t.status == "ok" for t in result.trials)
    print(f"{PROG}: tuning stopped ({result.stop_reason}) after {len(result.trials)} trials ({ok} ok) "
          f"in {result.seconds:.0f}s", flush=True)
    if result.best is None:
        raise RunDirError(f"no trial succeeded; see {Path(args.out) / TRIALS}")
    best = result.best
    config = objective.config(best.values)
    config.eval_every = float(config.epochs)
    recipe = settings["recipe"]
    write_best(args.out, best, config, config_flags(config, recipe, recipe_config(recipe, "cifar"), network_of(settings)))
    print(f"{PROG}: best trial {best.number}: validation error {best.objective:.2f}%; flags: "
          f"{(Path(args.out) / BEST_FLAGS).read_text().strip()}", flush=True)

    final = train(copy.deepcopy(network), all_train, test, config, device)
    summary = {
        "test_accuracy": final.test_accuracy, "epochs": final.epochs, "train_seconds": final.train_seconds,
        "seconds_per_epoch": final.train_seconds / final.epochs, **full_cost,
        "best_trial": best.number, "tuning_seconds": result.seconds, "trials": len(result.trials),
        "stop_reason": result.stop_reason,
        "proxy": None if proxy_cost is None else {
            "ratio": settings["proxy"], **proxy_cost, "seconds_per_epoch": best.info.get("seconds_per_epoch")},
    }
    atomic_write(Path(args.out) / FINAL, json.dumps(summary, indent=2) + "\n")
    rows = [("full network", full_cost, summary["seconds_per_epoch"])]
    if proxy_cost is not None:
        rows.append((f"proxy prune:{settings['proxy']}", proxy_cost, best.info.get("seconds_per_epoch")))
    for label, cost, per_epoch in rows:
        print(f"{PROG}: {label:>18}: {cost['macs'] / 1e6:9.2f}M MACs {cost['params'] / 1e6:7.3f}M params "
              f"{per_epoch:7.2f}s/epoch (best configuration)", flush=True)
    print(f"{PROG}: full network trained with the best configuration: test accuracy {final.test_accuracy:.2f}% "
          f"({n_test} test images, {final.epochs:.2f} epochs); results in {args.out}", flush=True)
    return 0
