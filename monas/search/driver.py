"""``run(config)``: wires space, data, estimator, problem and search algorithm, and owns the loop.

Each generation: evaluate the offspring (new networks are appended to the archive as
they finish), then write generations.csv, pareto.json, pareto.png and a checkpoint.
A run resumes from its directory: the checkpoint (data, ``monas.search.state``) restores
the algorithm and its random state, the archive answers every evaluation already made.

Everything is checked before the run folder is touched; the folder is then locked
(``monas.io.RunLock``) for the whole run. With ``overwrite`` the old run's files are set
aside and deleted only once the new run has recorded its first network; a start that
fails before that leaves the folder as it was.
"""
from __future__ import annotations

import inspect
import math
import platform
import sys
import time
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
from pymoo.core.algorithm import Algorithm
from pymoo.termination.max_gen import MaximumGenerationTermination

import search_spaces
from monas import estimators
from monas.complexity import count_complexity
from monas.search.config import SearchConfig
from monas.data import SIZE_OPTIONS, fit_scoring_sizes, load_dataset, scoring_data
from monas.device import resolve_device
from monas.estimators import Estimator
from monas.registry import ALGORITHMS
from monas.search.algorithms import crosses_over
from monas.search.evaluation import Evaluation, Evaluator
from monas.search.front import non_dominated, normalised_hypervolume
from monas.io import LOCK_FILE, RunClaim, RunDirError, refuse_links, repair_torn_tail
from monas.latency import LatencyProbe
from monas.search.objectives import OBJECTIVES, describe_bounds, parse_objectives, within_bounds
from monas.search.plot import pareto_figure, run_labels
from monas.search.problem import ArchitectureProblem
from monas.search.record import ARCHIVE, CHECKPOINT, PARETO, RUN_FILES, RunRecord
from monas.search.runners import make_runner
from monas.search.state import capture, restore
from search_spaces.base import ArchitectureError


@dataclass
class SearchResult:
    """What a finished run found: its Pareto set and every evaluation."""

    pareto: list[Evaluation]
    evaluations: list[Evaluation]
    generations: list[dict]


def versions() -> dict:
    """Versions of Python and of the libraries a result depends on."""
    packages = ("torch", "torchvision", "pymoo", "thop", "numpy", "scikit-learn")
    found = {"python": platform.python_version()}
    for name in packages:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def normalisation(space, spec, objective_names: list[str], latency: LatencyProbe | None = None,
                  recorded_latency: float | None = None) -> list[float]:
    """Per-objective worst values used to normalise hypervolume: 100 % error, and the
    largest MACs / params among the space's reference genomes; for latency, the largest
    latency among them measured with ``latency``, or ``recorded_latency`` (that of the
    run being resumed: a measurement does not repeat exactly)."""
    archs = [space.to_string(g) for g in space.reference_genomes()]
    counts = [count_complexity(space.build(arch, spec), spec) for arch in archs]
    worst = {"error": 100.0, "macs": float(max(c[0] for c in counts)), "params": float(max(c[1] for c in counts))}
    if "latency" in objective_names:
        worst["latency"] = recorded_latency or max(latency(space.build(arch, spec), spec) for arch in archs)
    return [worst[name] for name in objective_names]


def build_algorithm(space, pop_size: int, algorithm: str = "nsga2", n_obj: int = 2, crossover: float | None = None) -> Algorithm:
    """The search algorithm registered as ``algorithm`` (``monas.search.algorithms``) for
    ``space``, ``pop_size`` networks per generation and ``n_obj`` objectives; a search
    that breeds crosses over with probability ``crossover`` (None: the space's)."""
    if not crosses_over(algorithm):
        return ALGORITHMS.create(algorithm, space=space, pop_size=pop_size, n_obj=n_obj)
    crossover = space.crossover if crossover is None else crossover
    return ALGORITHMS.create(algorithm, space=space, pop_size=pop_size, n_obj=n_obj, crossover=crossover)


def fitted_estimator(name: str, options: dict, seed: int, available: int) -> Estimator:
    """Estimator ``name`` with ``options``, its scoring subsets fitted to a training split
    of ``available`` images (``monas.data.fit_scoring_sizes``): ``n_train``/``n_val``
    the user set in ``options`` are kept (DatasetError when they do not fit), the
    estimator's defaults shrink. An estimator whose constructor takes ``n_train`` and
    ``n_val`` is created with the fitted sizes (so its recorded settings say them); for
    one whose sizes follow from other settings, its ``n_train``/``n_val`` are set."""
    options = dict(options)
    estimator = estimators.ESTIMATORS.create(name, seed=seed, **options)
    if not estimator.n_train:
        return estimator
    fixed = frozenset(k for k in SIZE_OPTIONS if k in options)
    n_train, n_val = fit_scoring_sizes(estimator.n_train, estimator.n_val, available, fixed)
    if (n_train, n_val) == (estimator.n_train, estimator.n_val):
        return estimator
    if set(SIZE_OPTIONS) <= set(inspect.signature(estimators.ESTIMATORS.get(name)).parameters):
        return estimators.ESTIMATORS.create(name, seed=seed, **{**options, "n_train": n_train, "n_val": n_val})
    estimator.n_train, estimator.n_val = n_train, n_val
    return estimator


def run(config: SearchConfig, resume: bool = False, overwrite: bool = False, log=print, progress: bool = True) -> SearchResult:
    """Run (or, with ``resume``, continue) the search described by ``config``.

    Every input (settings, run folder, dataset, cluster) is checked before the run folder
    is changed, and everything that can be refused before the costly set-up (the space's
    reference networks, decoding the scoring images, starting workers): the run folder,
    then the dataset's size against the estimator's scoring subsets. Resuming a search
    that has done all its generations changes nothing and says so; a larger
    ``config.generations`` extends it."""
    space = search_spaces.SPACES.create(config.space, **config.space_options)
    objectives = parse_objectives(config.objectives)
    names = [o.name for o in objectives]
    out = Path(config.out)
    if resume:
        saved = _saved_run(out, config, space, objectives)
        if not saved.algorithm.has_next():
            log(f"{out} has finished its {len(saved.rows)} generations; nothing to do (raise --generations to extend it)")
            return SearchResult(_front(saved.evaluations, names, config.bounds), saved.evaluations, saved.rows)
    else:
        RunRecord.check_new(out, overwrite)
        refuse_links(out, RUN_FILES + (LOCK_FILE,))
    images = load_dataset(config.dataset, config.data_dir, split="train")
    estimator = fitted_estimator(config.estimator, config.estimator_options, config.seed, len(images))
    spec = images.spec
    device = resolve_device(config.device)
    probe = None
    if "latency" in config.measured():
        probe = LatencyProbe(resolve_device(config.latency_device or config.device), config.latency_batch)
    recorded_latency = _recorded_scale(out, "latency") if resume else None
    scale = normalisation(space, spec, names, probe, recorded_latency)
    data = scoring_data(images, estimator.n_train, estimator.n_val, seed=config.seed) if estimator.n_train else None
    evaluator = Evaluator(space, spec, estimator, data, device, latency=probe)
    gpus = torch.cuda.device_count() if device.type == "cuda" else 0
    runner = make_runner(evaluator, workers=config.workers, scheduler=config.scheduler, gpus=gpus, slurm=config.slurm)
    setup = _Setup(space, objectives, estimator, spec, device, scale, runner)
    try:
        return _search(config, setup, resume, overwrite, log, progress)
    finally:
        runner.close()


def _recorded_scale(out: Path, name: str) -> float | None:
    """The hypervolume normalisation of objective ``name`` recorded in ``out``'s
    config.json, when it is a positive number."""
    value = RunRecord.open(out).read_config().get("hypervolume_scale", {}).get(name)
    positive = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0
    return float(value) if positive else None


@dataclass
class _Setup:
    """What ``run`` resolved before touching the run directory."""

    space: object
    objectives: tuple
    estimator: object
    spec: object
    device: object
    scale: list[float]
    runner: object


@dataclass
class _Saved:
    """A recorded run, read and checked: its algorithm restored, generation rows, archive."""

    algorithm: Algorithm
    rows: list[dict]
    evaluations: list[Evaluation]


def _new_algorithm(config: SearchConfig, space, objectives) -> Algorithm:
    algorithm = build_algorithm(space, config.pop_size, config.algorithm, len(objectives), config.crossover)
    termination = MaximumGenerationTermination(config.generations)
    algorithm.setup(ArchitectureProblem(space, objectives, config.bounds), termination=termination, seed=config.seed)
    return algorithm


def _saved_run(out: Path, config: SearchConfig, space, objectives) -> _Saved:
    """The run in ``out`` restored for ``config``; RunDirError (nothing changed) when one
    of its files is a link, tampered with, of an older monas or does not fit ``config``."""
    record = RunRecord.open(out)
    refuse_links(out, RUN_FILES + (LOCK_FILE,))
    algorithm = _new_algorithm(config, space, objectives)
    state = record.read_checkpoint()
    rows = [] if state is None else restore(state, algorithm, str(out / CHECKPOINT))
    if config.generations < len(rows):
        raise RunDirError(f"--generations {config.generations} is fewer than the {len(rows)} generations {out} has done")
    evaluations = record.read_archive()
    for e in evaluations:
        _check_evaluation(e, space, config.measured(), out / ARCHIVE)
    if (out / PARETO).exists():
        try:
            pareto = record.read_pareto()
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise RunDirError(f"{out / PARETO} is unreadable ({type(exc).__name__}); restore it, or delete it and resume") from None
        if not (isinstance(pareto, dict) and isinstance(pareto.get("members"), list)):
            raise RunDirError(f"{out / PARETO} is not a monas front (no members list); restore it, or delete it and resume")
    return _Saved(algorithm, rows, evaluations)


def _check_evaluation(e: Evaluation, space, names: list[str], where: Path) -> None:
    """RunDirError unless archive entry ``e`` is a network of ``space`` whose objectives
    are the finite numbers ``names``."""
    try:
        genome = np.asarray(e.genome, dtype=np.int64)
        arch_ok = isinstance(e.arch, str) and space.canonical(genome) == e.arch
    except (ArchitectureError, TypeError, ValueError, OverflowError):
        arch_ok = False
    if not arch_ok:
        raise RunDirError(f"{where} holds {str(e.arch)[:60]!r}, which is not a network of this run's space with that genome")
    values = e.objectives.values() if isinstance(e.objectives, dict) else ()
    if not (isinstance(e.objectives, dict) and set(names) <= set(e.objectives)
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in values)):
        raise RunDirError(f"{where} holds bad objectives for {e.arch[:60]!r}")


def _search(config: SearchConfig, setup: _Setup, resume: bool, overwrite: bool, log, progress: bool) -> SearchResult:
    """The part of ``run`` that writes the run directory, with the runner started."""
    claim = RunClaim(Path(config.out), fresh=not resume, files=RUN_FILES)
    failed = True
    try:
        result = _search_claimed(config, setup, resume, overwrite, log, progress, claim)
        failed = False
        return result
    finally:
        claim.close(failed)


def _recorded_settings(config: SearchConfig, setup: _Setup) -> dict:
    """What config.json records of a new run: its settings and what they resolved to."""
    estimator = setup.estimator
    return {
        "config": asdict(config),
        "estimator_knobs": estimator.knobs(),
        "scoring_images": {"n_train": estimator.n_train, "n_val": estimator.n_val},
        "estimate": {"estimator": config.estimator, "error_in_percent": estimator.error_in_percent},
        "input": asdict(setup.spec),
        "device": str(setup.device),
        "hypervolume_scale": dict(zip([o.name for o in setup.objectives], setup.scale)),
        "versions": versions(),
        "command": sys.argv,
    }


def _search_claimed(config: SearchConfig, setup: _Setup, resume: bool, overwrite: bool, log, progress: bool,
                    claim: RunClaim) -> SearchResult:
    space, objectives, scale = setup.space, setup.objectives, setup.scale
    names = [o.name for o in objectives]
    out = Path(config.out)
    record = RunRecord(out)
    if resume:
        record.discard_interrupted_writes()
        repair_torn_tail(out / ARCHIVE)
        saved = _saved_run(out, config, space, objectives)  # again, now that no other process can write
        algorithm, rows, evaluations = saved.algorithm, saved.rows, saved.evaluations
        recorded = record.read_config()
        if recorded["config"]["generations"] != config.generations:
            recorded["config"]["generations"] = config.generations
            record.write_config(recorded)
    else:
        claim.set_aside(RunRecord.check_new(out, overwrite))
        record.write_config(_recorded_settings(config, setup))
        algorithm, rows, evaluations = _new_algorithm(config, space, objectives), [], []
    labels = run_labels(record.read_config(), config.out)
    problem: ArchitectureProblem = algorithm.problem
    cache = {e.arch: e for e in evaluations}
    # recomputed from the archive: runs of earlier versions recorded it on another scale
    bounds = config.bounds
    rows = [{**row, "hypervolume": _hypervolume([e for e in evaluations if e.generation <= row["generation"]], names, scale, bounds)}
            for row in rows]
    bar = _ProgressBar(progress)

    def on_evaluated(evaluation: Evaluation) -> None:
        record.append_evaluation(evaluation)
        claim.start()
        evaluations.append(evaluation)
        bar.update(evaluation)

    problem.attach(setup.runner, on_evaluated, cache)
    if resume:
        log(f"resuming {config.out}: {len(rows)} generations done, {len(cache)} networks in the archive")
    while algorithm.has_next():
        generation = len(rows) + 1
        problem.generation = generation
        started = time.perf_counter()
        bar.start(generation, config.generations, config.pop_size)
        algorithm.next()
        bar.close()
        pareto = _front(evaluations, names, bounds)
        rows.append(
            {
                "generation": generation,
                "evaluations": len(evaluations),
                "front_size": len(pareto),
                "hypervolume": _hypervolume(pareto, names, scale, bounds),
                "seconds": round(time.perf_counter() - started, 3),
            }
        )
        record.write_generations(rows)
        record.write_pareto(_pareto_json(pareto, names, config.measured(), bounds))
        within = [e for e in evaluations if within_bounds(e.objectives, bounds)]
        outside = [e for e in evaluations if not within_bounds(e.objectives, bounds)]
        figure = pareto_figure(within, names, labels, outside=outside)
        record.write_figure(figure)
        plt.close(figure)  # pyplot keeps every figure it made until closed
        record.write_checkpoint(capture(algorithm, rows))
        best = min((e.objectives["error"] for e in pareto), default=None)
        if best is None:
            best_text = "no network within the bounds yet"
        else:
            best_text = f"best error {best:.2f}%" if setup.estimator.error_in_percent else f"best {config.estimator} {best:.3f}"
        row = rows[-1]
        log(
            f"gen {generation:>3}/{config.generations}  evals {row['evaluations']:>5}  front {row['front_size']:>3}  "
            f"hv {row['hypervolume']:.4f}  {best_text}  {row['seconds']:.1f}s"
        )
    return SearchResult(_front(evaluations, names, bounds), evaluations, rows)


def _hypervolume(evaluations: list[Evaluation], names: list[str], scale: list[float], bounds: dict) -> float:
    """``normalised_hypervolume`` of the front of ``evaluations``, rounded for the record."""
    F = np.array([[e.objectives[n] for n in names] for e in _front(evaluations, names, bounds)]).reshape(-1, len(names))
    return round(normalised_hypervolume(F, scale), 6)


def _front(evaluations: list[Evaluation], names: list[str], bounds: dict) -> list[Evaluation]:
    """The non-dominated networks among those evaluated without failure within ``bounds``."""
    ok = [e for e in evaluations if e.status == "ok" and within_bounds(e.objectives, bounds)]
    F = np.array([[e.objectives[n] for n in names] for e in ok]).reshape(-1, len(names))
    members = [ok[i] for i in non_dominated(F)]
    return sorted(members, key=lambda e: ([e.objectives[n] for n in names[1:] + names[:1]], e.arch))


def _pareto_json(pareto: list[Evaluation], names: list[str], measured: list[str], bounds: dict) -> dict:
    """pareto.json: the front's members, the units of what each records, and the bounds
    with a note when no network meets them."""
    front = {
        "objectives": names,
        "units": {n: OBJECTIVES[n].unit for n in dict.fromkeys(["error", "macs", "params", *measured])},
        "members": [
            {"arch": e.arch, "genome": e.genome, "objectives": e.objectives, "generation": e.generation} for e in pareto
        ],
    }
    if bounds:
        front["bounds"] = bounds
    if bounds and not pareto:
        front["note"] = f"no evaluated network meets {describe_bounds(bounds)}"
    return front


class _ProgressBar:
    """A tqdm bar per generation on stderr (silent when disabled or not a terminal)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._bar = None

    def start(self, generation: int, generations: int, total: int) -> None:
        if self.enabled:
            from tqdm import tqdm

            self._bar = tqdm(total=total, desc=f"gen {generation}/{generations}", unit="net", leave=False, disable=None)

    def update(self, evaluation: Evaluation) -> None:
        if self._bar is not None:
            self._bar.set_postfix(error=f"{evaluation.objectives['error']:.1f}%", refresh=False)
            self._bar.update()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
