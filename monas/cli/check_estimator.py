"""The ``check_estimator`` command: does an accuracy estimator rank *your* networks?

A seeded sample of ``--n`` distinct networks of ``--space`` is trained on ``--dataset``
with the ``train`` estimator for ``--epochs`` (its trained accuracy, or with
``--early-stop curve`` its PEng4NN-predicted accuracy at ``--epochs``, is the ground
truth), and the same networks are scored by every estimator of ``--estimators``, each
created as a search would create it (``--seed``, its defaults, ``-E NAME:KEY=VALUE``)
and fed scoring images drawn from the training split as a search draws them.

Reported per estimator: Kendall tau-b (``scipy.stats.kendalltau``) of minus its estimate
against the trained accuracy; a 90 % bootstrap interval of that tau
(``scipy.stats.bootstrap``, percentile method, ``--bootstrap`` resamples of the
networks, paired: a network's estimate and accuracy are drawn together; a resample in
which every network ties on one side has no ranking and counts as tau 0); when
``params`` is among the estimators, the paired bootstrap interval of the difference
between the estimator's tau and #params' tau (the same resampled networks on both
sides); the seconds per network (each ``estimate`` call, building the network
included) and the one-off seconds of its ``prepare`` (e.g. the ensemble's reference
sample). A network an estimator cannot score gets its ``worst`` value, as in a search;
a network that cannot be trained gets accuracy 0.

The recommendation follows this rule:
1. fewer than ``MIN_NETWORKS`` trained networks: no conclusion (raise ``--n``);
2. trained accuracies all equal: nothing to rank (train longer or on more images);
3. reliable estimators are those whose 90 % interval of tau lies above 0; none: no
   estimator ranks these networks better than chance, search with ``train``;
4. among the reliable ones, those whose interval of (tau - #params' tau) lies above 0
   beat counting parameters; the recommendation is the one with the highest tau among
   those, or, when none does (or ``params`` was not measured), among all reliable ones
   (ties: the faster), saying so when it is not distinguishably better than #params.

``--out`` holds ``config.json``, ``networks.jsonl`` (one line per network, appended and
fsynced as it finishes: trained accuracy and every estimate, with their seconds) and
``report.json`` (the table's figures and the recommendation). ``--resume`` continues a
run in ``--out``: finished networks are skipped; ``--n`` may be raised (the sample's
first networks do not depend on ``--n``).

Exit codes: 0 done, 2 bad input (one line on stderr, nothing written), 130 interrupted
(continue with ``--resume``).
"""
from __future__ import annotations

import argparse
import inspect
import json
import os
import sys
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from scipy.stats import bootstrap, kendalltau

import search_spaces
from monas import estimators
from monas.cli.common import (
    OneLineParser,
    OutPolicy,
    UsageError,
    add_dataset_flags,
    check_out_folder,
    create,
    lookup,
    parse_options,
    run_command,
)
from monas.data import DATASETS, ScoringData, load_dataset, scoring_data
from monas.device import DEVICE_HELP, resolve_device
from monas.estimators.base import Estimator
from monas.search.evaluation import estimate_or_worst
from monas.search.record import RunDirError, RunRecord, append_line, atomic_write, read_lines
from monas.search.driver import versions
from search_spaces.base import ArchitectureError, InputSpec, SearchSpace

PROG = "check_estimator"
REFERENCE = "train"
NOT_COMPARED = (REFERENCE, "table")  # the ground truth itself, and a lookup of known accuracies
REFERENCE_KNOBS = ("seed", "epochs", "early_stop")  # set by --seed, --epochs, --early-stop
BASELINE = "params"
MIN_NETWORKS = 10
CONFIDENCE = 0.9
CONFIG, NETWORKS, REPORT = "config.json", "networks.jsonl", "report.json"
FILES = (CONFIG, NETWORKS, REPORT)
RESUME_OVERRIDES = {"resume", "out", "n", "device", "bootstrap", "progress"}
MINIMUMS = {"n": 3, "epochs": 1, "bootstrap": 100}  # networks, epochs, bootstrap resamples


def default_estimators() -> list[str]:
    """Every registered estimator but the ground truth (``train``) and ``table``."""
    return [name for name in estimators.ESTIMATORS.names() if name not in NOT_COMPARED]


@dataclass
class CheckConfig:
    """Everything that determines a check; recorded in config.json."""

    out: str
    space: str = "darts"
    space_options: dict = field(default_factory=dict)
    dataset: str = "cifar10"
    data_dir: str | None = None
    n: int = 30
    epochs: int = 10
    early_stop: str = "none"
    train_options: dict = field(default_factory=dict)
    estimators: list = field(default_factory=default_estimators)
    estimator_options: dict = field(default_factory=dict)
    seed: int = 0
    device: str = "auto"
    bootstrap: int = 1000


def build_parser() -> argparse.ArgumentParser:
    """The argument parser. Defaults are applied after parsing, so that ``--resume``
    can tell which flags were given."""
    d = CheckConfig(out="")
    train = inspect.signature(estimators.ESTIMATORS.get(REFERENCE)).parameters
    p = OneLineParser(
        prog=PROG,
        description="Is the accuracy estimator right for your data? Trains a seeded sample of networks of the "
        "space on the dataset, scores them with every estimator, and prints each estimator's Kendall tau against "
        "the trained accuracy with a 90 % bootstrap interval, its seconds per network, and a recommendation. "
        "Writes config.json, networks.jsonl and report.json into --out.",
        argument_default=argparse.SUPPRESS,
    )
    p.add_argument("--space", help=f"search space (known: {', '.join(search_spaces.SPACES.names())}; default {d.space})")
    p.add_argument("--space-option", "-S", action="append", metavar="KEY=VALUE", dest="space_options",
                   help="search-space setting, repeatable; darts: init_channels=16 layers=8; nb201: channels=16 cells_per_stage=5")
    add_dataset_flags(p, d.dataset)
    p.add_argument("--n", type=int, help=f"networks to train and score: a seeded sample of distinct networks (default {d.n})")
    p.add_argument("--epochs", type=int, help=f"epochs each network is trained for by the train estimator (default {d.epochs}); "
                   "its training and validation images are -E train:n_train=... -E train:n_val=... "
                   f"(default {train['n_train'].default}, {train['n_val'].default}): a class-stratified subset of the training split")
    p.add_argument("--early-stop", choices=("none", "curve"), help="curve: stop a network's training once its PEng4NN "
                   "learning-curve prediction has converged; its predicted accuracy at --epochs is the truth (default none)")
    p.add_argument("--estimators", help="comma-separated estimators to check (default: every registered one but "
                   f"{' and '.join(NOT_COMPARED)}: {','.join(d.estimators)})")
    p.add_argument("--estimator-option", "-E", action="append", metavar="NAME:KEY=VALUE", dest="estimator_options",
                   help="setting of one estimator (or of the train estimator that gives the truth), repeatable; "
                   "e.g. rwe:n_train=1000 train:n_train=2000")
    p.add_argument("--seed", type=int, help=f"seed of the sample, the training, the estimators and their images (default {d.seed})")
    p.add_argument("--device", help=f"{DEVICE_HELP} (default {d.device})")
    p.add_argument("--bootstrap", type=int, help=f"bootstrap resamples of the networks (default {d.bootstrap})")
    p.add_argument("--out", help="run folder (default runs/check-<space>-<dataset>-seed<seed>)")
    p.add_argument("--resume", action="store_true", help="continue the check in --out with its own settings "
                   "(may raise --n, change --device and --bootstrap); finished networks are skipped")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no line per network on stderr")
    return p


def config_from_args(args: argparse.Namespace) -> tuple[CheckConfig, bool]:
    """(config, resume) from parsed arguments, validated; reads nothing but config.json."""
    given = vars(args)
    policy = OutPolicy(bool(given.get("resume")), overwrite=None)
    if policy.resume:
        if "out" not in given:
            raise UsageError("--resume needs --out, the folder of the check to continue")
        extra = sorted(set(given) - RESUME_OVERRIDES)
        if extra:
            raise UsageError(f"with --resume the check's own settings apply; drop --{extra[0].replace('_', '-')}")
        recorded = RunRecord.open(given["out"]).read_config()
        try:
            config = CheckConfig(**recorded["config"])
        except (KeyError, TypeError):
            raise RunDirError(f"{given['out']}/{CONFIG} was not written by check_estimator") from None
        config.out = given["out"]
        if given.get("n", config.n) < config.n:
            raise UsageError(f"--n may only be raised on --resume ({given['out']} checks {config.n} networks)")
        for key in ("n", "device", "bootstrap"):
            if key in given:
                setattr(config, key, given[key])
        validate(config)
        return config, True

    known = {f.name for f in fields(CheckConfig)}
    values = {k: v for k, v in given.items() if k in known}
    space = values.get("space", CheckConfig.space)
    values["space_options"] = parse_options(values.get("space_options", []), lookup(search_spaces.SPACES, space), "space")
    if "estimators" in values:
        values["estimators"] = parse_names(values["estimators"])
    names = values.get("estimators") or default_estimators()
    values["train_options"], values["estimator_options"] = estimator_options(values.get("estimator_options", []), names)
    values.setdefault("out", os.path.join("runs", f"check-{space}-{values.get('dataset', CheckConfig.dataset)}-seed{values.get('seed', 0)}"))
    config = CheckConfig(**values)
    validate(config)
    check_out_folder(config.out)
    policy.decide(config.out, [name for name in FILES if (Path(config.out) / name).exists()], "a check")
    return config, False


def parse_names(text: str) -> list[str]:
    """The estimator names of ``--estimators``: registered, distinct, not the truth."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise UsageError("--estimators lists no estimator")
    for name in names:
        lookup(estimators.ESTIMATORS, name)
        if name == REFERENCE:
            raise UsageError("train gives the trained accuracy here; set it with --epochs, --early-stop and -E train:KEY=VALUE")
    duplicate = next((name for name in names if names.count(name) > 1), None)
    if duplicate:
        raise UsageError(f"--estimators lists {duplicate} twice")
    return names


def estimator_options(pairs: Sequence[str], names: Sequence[str]) -> tuple[dict, dict]:
    """(train's options, {estimator: options}) from ``-E NAME:KEY=VALUE`` pairs, each
    value converted as ``parse_options`` does."""
    grouped: dict[str, list[str]] = {}
    for item in pairs:
        name, sep, pair = item.partition(":")
        if not sep or "=" in name:
            raise UsageError(f"-E {item!r} is not NAME:KEY=VALUE (e.g. rwe:n_train=1000)")
        if name != REFERENCE and name not in names:
            raise UsageError(f"-E {item!r}: {name} is neither train nor one of --estimators ({','.join(names)})")
        grouped.setdefault(name, []).append(pair)
    factory = lambda name: lookup(estimators.ESTIMATORS, name)  # noqa: E731
    train = parse_options(grouped.pop(REFERENCE, []), factory(REFERENCE), "train", reserved=REFERENCE_KNOBS)
    return train, {name: parse_options(p, factory(name), f"estimator {name}", reserved=("seed",)) for name, p in grouped.items()}


def validate(config: CheckConfig) -> None:
    """UsageError for any setting that cannot work; loads no data and writes nothing."""
    for name, least in MINIMUMS.items():
        if getattr(config, name) < least:
            raise UsageError(f"--{name} must be at least {least}, got {getattr(config, name)}")
    lookup(DATASETS, config.dataset)
    create(search_spaces.SPACES, config.space, **config.space_options)
    make_estimators(config)
    resolve_device(config.device)


def make_estimators(config: CheckConfig, available: int | None = None) -> tuple[Estimator, dict[str, Estimator]]:
    """(the train estimator that gives the truth, {name: estimator checked}); with
    ``available`` (the training split's size), scoring sizes left at their defaults
    shrink to fit it, as in a search (``monas.search.driver.fitted_estimator``)."""
    from monas.search.driver import fitted_estimator

    def create(name: str, **options) -> Estimator:
        try:
            if available is None:
                return estimators.ESTIMATORS.create(name, seed=config.seed, **options)
            return fitted_estimator(name, options, config.seed, available)
        except ValueError as exc:
            raise UsageError(f"{name}: {exc}") from None

    reference = create(REFERENCE, epochs=config.epochs, early_stop=config.early_stop, **config.train_options)
    return reference, {name: create(name, **config.estimator_options.get(name, {})) for name in config.estimators}


def sample_networks(space: SearchSpace, n: int, seed: int) -> list[str]:
    """The canonical strings of the first ``n`` distinct networks drawn uniformly over
    the genome with a stream of ``seed`` of its own (not the ensemble's reference
    sample); a larger ``n`` extends the same list."""
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(1,)))
    lower, upper = space.bounds
    archs: list[str] = []
    seen: set[str] = set()
    attempts = 100 * n + 1000
    for _ in range(attempts):
        arch = space.canonical(rng.integers(lower, upper + 1))
        if arch not in seen:
            seen.add(arch)
            archs.append(arch)
            if len(archs) == n:
                return archs
    raise UsageError(f"drew only {len(archs)} distinct networks of the {space.name} space in {attempts} tries; lower --n")


@dataclass
class Setup:
    """What measuring needs, prepared once: space, input spec, estimators, their data."""

    space: SearchSpace
    spec: InputSpec
    archs: list[str]
    reference: Estimator
    scorers: dict[str, Estimator]
    data: dict[str, ScoringData | None]
    device: torch.device
    setup_seconds: dict[str, float]


def prepare(config: CheckConfig) -> Setup:
    """Space, sample, estimators and their scoring data; UsageError (nothing written)
    when the dataset is too small or the networks cannot be built for its images."""
    space = search_spaces.SPACES.create(config.space, **config.space_options)
    images = load_dataset(config.dataset, config.data_dir, split="train")
    reference, scorers = make_estimators(config, available=len(images))
    archs = sample_networks(space, config.n, config.seed)
    try:
        space.build(archs[0], images.spec)
    except ArchitectureError as exc:
        raise UsageError(f"{config.space} networks cannot be built for {config.dataset}'s images: {exc}") from None
    device = resolve_device(config.device)
    by_size: dict[tuple[int, int], ScoringData] = {}
    data: dict[str, ScoringData | None] = {}
    for name, estimator in {REFERENCE: reference, **scorers}.items():
        size = (estimator.n_train, estimator.n_val)
        if estimator.n_train and size not in by_size:
            by_size[size] = scoring_data(images, *size, seed=config.seed).to(device)
        data[name] = by_size.get(size) if estimator.n_train else None
    return Setup(space, images.spec, archs, reference, scorers, data, device, {})


def measure(setup: Setup, index: int, arch: str) -> dict:
    """One networks.jsonl line: the trained accuracy and every estimate, each with its
    seconds and error message (None when it worked)."""

    def timed(name: str, estimator: Estimator) -> tuple[float, dict]:
        start = time.perf_counter()
        value, error = estimate_or_worst(estimator, arch, lambda: setup.space.build(arch, setup.spec), setup.data[name], setup.device)
        return value, {"seconds": time.perf_counter() - start, "error": error}

    error, truth = timed(REFERENCE, setup.reference)
    row = {"index": index, "arch": arch, "truth": {"accuracy": 100.0 - error, **truth}, "estimates": {}}
    for name, estimator in setup.scorers.items():
        value, info = timed(name, estimator)
        row["estimates"][name] = {"estimate": value, **info}
    return row


def _tau(score: np.ndarray, truth: np.ndarray) -> float:
    """Kendall tau-b; 0 when one side has a single value (no ranking to compare)."""
    tau = kendalltau(score, truth).statistic
    return 0.0 if np.isnan(tau) else float(tau)


def _interval(statistic: Callable[..., float], samples: tuple[np.ndarray, ...], resamples: int, seed: int) -> list[float]:
    """The 90 % percentile bootstrap interval of ``statistic`` over paired resamples of
    the networks (index i of every sample is one network)."""
    result = bootstrap(samples, statistic, paired=True, vectorized=False, n_resamples=resamples,
                       confidence_level=CONFIDENCE, method="percentile",
                       random_state=np.random.default_rng(seed))  # rng= only from scipy 1.15; setup.cfg allows 1.10
    return [float(result.confidence_interval.low), float(result.confidence_interval.high)]


def summarise(rows: list[dict], config: CheckConfig, setup_seconds: dict[str, float]) -> dict:
    """The report: per estimator its tau, intervals, seconds and failures; the truth's
    seconds; the recommendation (the rule of the module docstring)."""
    truth = np.array([r["truth"]["accuracy"] for r in rows])
    scores = {name: -np.array([r["estimates"][name]["estimate"] for r in rows]) for name in config.estimators}
    distinct = len(np.unique(truth)) > 1
    entries = []
    for name in config.estimators:
        score = scores[name]
        entry = {
            "estimator": name,
            "kendall_tau": None,
            "interval": None,
            "minus_params": None,
            "minus_params_interval": None,
            "seconds_per_network": float(np.mean([r["estimates"][name]["seconds"] for r in rows])),
            "setup_seconds": setup_seconds.get(name),
            "failed": sum(r["estimates"][name]["error"] is not None for r in rows),
        }
        if distinct and len(np.unique(score)) > 1:
            entry["kendall_tau"] = _tau(score, truth)
            entry["interval"] = _interval(_tau, (score, truth), config.bootstrap, config.seed)
            if BASELINE in scores and name != BASELINE and len(np.unique(scores[BASELINE])) > 1:
                difference = lambda s, b, t: _tau(s, t) - _tau(b, t)  # noqa: E731
                entry["minus_params"] = difference(score, scores[BASELINE], truth)
                entry["minus_params_interval"] = _interval(difference, (score, scores[BASELINE], truth), config.bootstrap, config.seed)
        entries.append(entry)
    chosen, text = recommend(entries, truth, BASELINE in scores)
    return {
        "space": config.space,
        "dataset": config.dataset,
        "networks": len(rows),
        "epochs": config.epochs,
        "early_stop": config.early_stop,
        "truth": {
            "mean_accuracy": float(truth.mean()),
            "min_accuracy": float(truth.min()),
            "max_accuracy": float(truth.max()),
            "seconds_per_network": float(np.mean([r["truth"]["seconds"] for r in rows])),
            "failed": sum(r["truth"]["error"] is not None for r in rows),
        },
        "bootstrap": {"resamples": config.bootstrap, "confidence": CONFIDENCE, "method": "percentile, paired"},
        "estimators": entries,
        "recommendation": {"estimator": chosen, "text": text},
    }


def recommend(entries: list[dict], truth: np.ndarray, params_measured: bool) -> tuple[str | None, str]:
    """(estimator or None, a plain sentence), by the rule of the module docstring."""
    n = len(truth)
    if n < MIN_NETWORKS:
        return None, (f"{n} networks are too few for a conclusion (at least {MIN_NETWORKS} needed): "
                      "raise --n and continue with --resume.")
    if len(np.unique(truth)) < 2:
        return None, (f"Every network reached the same accuracy ({truth[0]:.1f} %), so there is nothing to rank: "
                      "train longer (--epochs) or on more images (-E train:n_train=...).")
    reliable = [e for e in entries if e["interval"] is not None and e["interval"][0] > 0]
    if not reliable:
        return None, (f"No estimator ranks these {n} networks better than chance with 90 % confidence (no interval lies "
                      "above 0): search with --estimator train, or check more networks (--n).")
    better = [e for e in reliable if e["minus_params_interval"] is not None and e["minus_params_interval"][0] > 0]
    best = max(better or reliable, key=lambda e: (e["kendall_tau"], -e["seconds_per_network"]))
    lo, hi = best["interval"]
    text = f"Use --estimator {best['estimator']}: Kendall tau {best['kendall_tau']:.2f} (90 % interval {lo:.2f} to {hi:.2f})"
    if better:
        dlo, dhi = best["minus_params_interval"]
        text += f", better than counting parameters by {best['minus_params']:.2f} ({dlo:.2f} to {dhi:.2f})."
    elif params_measured and best["estimator"] != BASELINE:
        text += (f"; it is not distinguishably better than counting parameters on these {n} networks, "
                 "so a search that minimises params already gets most of its ranking.")
    elif params_measured:
        text += "; no estimator ranks these networks distinguishably better than counting parameters."
    else:
        text += "."
    return best["estimator"], text


def _fmt_interval(interval: list[float] | None) -> str:
    return "-" if interval is None else f"{interval[0]:.2f} to {interval[1]:.2f}"


def format_report(report: dict) -> str:
    """The printed table (Markdown) and the recommendation."""
    truth = report["truth"]
    stop = ", early stop: curve" if report["early_stop"] == "curve" else ""
    lines = [
        f"{report['space']} on {report['dataset']}: {report['networks']} networks trained for {report['epochs']} epochs{stop} "
        f"(accuracy {truth['min_accuracy']:.1f} to {truth['max_accuracy']:.1f} %, mean {truth['mean_accuracy']:.1f} %; "
        f"{truth['seconds_per_network']:.2f} s per network; {truth['failed']} failed)",
        f"Kendall tau of each estimator against the trained accuracy; 90 % intervals: {report['bootstrap']['resamples']} "
        "paired bootstrap resamples of the networks, percentile method",
        "",
        "| estimator | Kendall tau | 90 % interval | tau - params' tau (90 % interval) | s / network | setup s | failed |",
        "|---|---|---|---|---|---|---|",
    ]
    ranked = sorted(report["estimators"], key=lambda e: -np.inf if e["kendall_tau"] is None else e["kendall_tau"], reverse=True)
    for e in ranked:
        tau = "n/a" if e["kendall_tau"] is None else f"{e['kendall_tau']:.3f}"
        minus = "-" if e["minus_params"] is None else f"{e['minus_params']:+.3f} ({_fmt_interval(e['minus_params_interval'])})"
        setup = "-" if e["setup_seconds"] is None else f"{e['setup_seconds']:.1f}"
        lines.append(f"| {e['estimator']} | {tau} | {_fmt_interval(e['interval'])} | {minus} | "
                     f"{e['seconds_per_network']:.3f} | {setup} | {e['failed']} |")
    lines += ["", f"Recommendation: {report['recommendation']['text']}"]
    return "\n".join(lines)


def check(config: CheckConfig, resume: bool, progress: bool = True) -> dict:
    """Train and score the sample (skipping networks already in ``networks.jsonl`` on
    resume), write the report, return it."""
    setup = prepare(config)
    out = Path(config.out)
    if resume:
        record = RunRecord.open(out)
        record.discard_interrupted_writes()
    else:
        out.mkdir(parents=True, exist_ok=True)
        record = RunRecord(out)
    record.write_config({"config": asdict(config), "versions": versions()})
    done = {}
    for row in read_lines(out / NETWORKS):
        index = row.get("index")
        if not isinstance(index, int) or index >= len(setup.archs) or setup.archs[index] != row.get("arch"):
            raise RunDirError(f"{out / NETWORKS} holds a network that is not in this check's sample ({row.get('arch')})")
        done[index] = row
    for name, estimator in setup.scorers.items():
        start = time.perf_counter()
        estimator.prepare(setup.space, setup.spec, setup.data[name], setup.device)
        setup.setup_seconds[name] = time.perf_counter() - start
    rows = []
    for index, arch in enumerate(setup.archs):
        if index not in done:
            done[index] = measure(setup, index, arch)
            append_line(out / NETWORKS, done[index])
            if progress:
                row = done[index]
                seconds = sum(e["seconds"] for e in row["estimates"].values())
                print(f"[{index + 1}/{config.n}] trained to {row['truth']['accuracy']:.1f} % in {row['truth']['seconds']:.1f} s, "
                      f"scored in {seconds:.1f} s: {arch}", file=sys.stderr, flush=True)
        rows.append(done[index])
    report = summarise(rows, config, setup.setup_seconds)
    atomic_write(out / REPORT, json.dumps(report, indent=2) + "\n")
    return report


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``experiments/check_estimator.py`` and the ``monas-check-estimator`` console script."""

    def work() -> int:
        args = build_parser().parse_args(argv)
        config, resume = config_from_args(args)
        report = check(config, resume, progress=getattr(args, "progress", True))
        print(format_report(report))
        print(f"results in {config.out}")
        return 0

    return run_command(PROG, work, "continue with --resume")
