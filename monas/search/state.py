"""The search state as plain data (JSON), not code.

A checkpoint is what the next generation of the search algorithm reads: the surviving
population (genomes, objectives, constraint values when the search has bounds, and the
values survival gave each that the algorithm reads, e.g. NSGA-II's rank and crowding
distance: ``population_attributes`` of ``monas.search.algorithms``; null for a network
outside the bounds, which survival does not rank), what its survival carries between
generations (NSGA-III's normalisation points; nothing for most), the generation
counter, the evaluation count, the forced-termination flag and the state of the numpy
Generator, plus the per-generation rows of generations.csv.
``capture`` turns a running algorithm into such a dict; ``restore`` validates one
(types, shapes, bounds: a crafted file is refused with a one-line RunDirError) and puts
it into a freshly set-up algorithm, which then continues exactly as the original would
have. Nothing in a checkpoint is ever executed or unpickled.
"""
from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
from pymoo.core.individual import calc_cv
from pymoo.core.population import Population

from monas.io import RunDirError

STATE_FORMAT = "monas-search-state-1"
ATTRIBUTE_KINDS = {"rank": int, "crowding": float, "niche": int, "dist_to_niche": float}
"""The per-individual values a checkpoint may hold, all non-negative (a float may be inf)."""
ROW_COLUMNS = {"generation": int, "evaluations": int, "front_size": int, "hypervolume": float, "seconds": float}
_NON_FINITE = {"inf": math.inf, "-inf": -math.inf, "nan": math.nan}


def capture(algorithm, rows: list[dict]) -> dict:
    """The state of a set-up search ``algorithm`` (``monas.search.algorithms``) after a
    finished generation, and the generation ``rows`` so far, as JSON-compatible data."""
    pop = algorithm.pop
    attributes = {name: [_value_out(v, ATTRIBUTE_KINDS[name]) for v in pop.get(name)] for name in algorithm.population_attributes}
    population = {
        "X": np.asarray(pop.get("X")).astype(np.int64).tolist(),
        "F": [_floats_out(row) for row in pop.get("F")],
        **attributes,
        "n_gen": [int(g) for g in pop.get("n_gen")],
    }
    if algorithm.problem.n_ieq_constr:
        population["G"] = [_floats_out(row) for row in pop.get("G")]
    state = {
        "format": STATE_FORMAT,
        "n_gen": int(algorithm.n_iter),
        "n_eval": int(algorithm.evaluator.n_eval),
        "force_termination": bool(algorithm.termination.force_termination),
        "rng": algorithm.random_state.bit_generator.state,
        "population": population,
        "generations": rows,
    }
    survival = algorithm.survival_state()
    if survival:
        state["survival"] = survival
    return state


def restore(state: Any, algorithm, where: str) -> list[dict]:
    """Put ``state`` (as ``capture`` made it) into ``algorithm``, freshly set up with its
    problem, termination and seed; returns the generation rows. RunDirError naming
    ``where`` when ``state`` does not fit this algorithm and problem."""
    problem = algorithm.problem
    _check(isinstance(state, dict) and state.get("format") == STATE_FORMAT, where, f"not a {STATE_FORMAT} search state")
    rows = state.get("generations")
    _check(isinstance(rows, list) and all(_is_row(r, k) for k, r in enumerate(rows, 1)), where, "bad generation rows")
    n_gen = state.get("n_gen")
    _check(_is_int(n_gen) and n_gen == len(rows) + 1, where, "n_gen does not match the generation rows")
    n_eval = state.get("n_eval")
    _check(_is_int(n_eval) and n_eval >= 0, where, "bad n_eval")
    _check(isinstance(state.get("force_termination"), bool), where, "bad force_termination")

    pop = state.get("population")
    n_constr = problem.n_ieq_constr
    attributes = tuple(algorithm.population_attributes)
    columns = {"X", "F", "n_gen", *attributes} | ({"G"} if n_constr else set())
    _check(isinstance(pop, dict) and set(pop) == columns, where, "bad population")
    X = _array(pop["X"], np.int64, where, "X")
    n = len(X)
    _check(X.shape == (n, problem.n_var) and 1 <= n <= algorithm.pop_size, where, "population genomes have the wrong shape")
    lower, upper = problem.bounds()
    _check(bool(np.all((X >= lower) & (X <= upper))), where, "a population genome lies outside the space's bounds")
    F = _array([_floats_in(row) for row in _list(pop["F"], where)], np.float64, where, "F")
    _check(F.shape == (n, problem.n_obj) and bool(np.all(np.isfinite(F))), where, "population objectives have the wrong shape")
    born = _array(pop["n_gen"], np.int64, where, "n_gen")
    raw = {name: _list(pop[name], where) for name in attributes}
    _check(born.shape == (n,) and all(len(v) == n for v in raw.values()), where, "population columns differ in length")
    _check(bool(np.all((born >= 1) & (born < n_gen))), where, "bad population generations")
    G = _array([_floats_in(row) for row in _list(pop["G"], where)], np.float64, where, "G") if n_constr else np.zeros((n, 0))
    _check(G.shape == (n, n_constr) and not np.any(np.isnan(G)), where, "population constraints have the wrong shape")
    CV = calc_cv(G=G).reshape(n, 1)
    ranked = CV[:, 0] <= 0  # survival gives its values only to the networks within the bounds
    for name, column in raw.items():
        _check(all((v is None) == (not ok) for v, ok in zip(column, ranked)), where, f"population {name} values do not match its constraints")
    values = {
        name: _array(_floats_in([v for v in column if v is not None]), np.dtype(ATTRIBUTE_KINDS[name]).type, where, name)
        for name, column in raw.items()
    }
    for name, v in values.items():
        _check(not np.any(np.isnan(v)) and bool(np.all(v >= 0)), where, f"bad {name} values (negative or NaN)")
    survival = state.get("survival", {})
    _check(isinstance(survival, dict), where, "bad survival state")

    rng = algorithm.random_state.bit_generator
    try:
        rng.state = state.get("rng")
    except (TypeError, ValueError, KeyError, OverflowError):
        raise RunDirError(f"{where} is not a valid checkpoint: bad random generator state; start a new run") from None

    population = Population.new("X", X)
    population.set("F", F, "G", G, "H", np.zeros((n, 0)), "CV", CV)
    population.set("n_gen", born, "n_iter", born)
    for name, v in values.items():
        population[ranked].set(name, v)
    for ind in population:
        ind.evaluated = {"F", "G", "H"}
    algorithm.pop = population
    try:
        algorithm.restore_survival_state(survival)
    except (TypeError, ValueError) as exc:
        raise RunDirError(f"{where} is not a valid checkpoint: {exc}; start a new run") from None
    algorithm.n_iter = n_gen
    algorithm.evaluator.n_eval = n_eval
    algorithm.is_initialized = True
    algorithm.start_time = time.time()  # read only by pymoo's result(); not search state
    algorithm._set_optimum()
    termination = algorithm.termination
    termination.force_termination = state["force_termination"]
    termination.update(algorithm)
    # pymoo updates the termination before it counts the finished generation.
    if not termination.force_termination:
        termination.perc = len(rows) / termination.n_max_gen
    return rows


def _check(ok: bool, where: str, what: str) -> None:
    if not ok:
        raise RunDirError(f"{where} is not a valid checkpoint: {what}; start a new run")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_row(row: Any, generation: int) -> bool:
    if not (isinstance(row, dict) and set(row) == set(ROW_COLUMNS) and row["generation"] == generation):
        return False
    return all(
        _is_int(row[k]) and row[k] >= 0 if kind is int else isinstance(row[k], (int, float)) and not isinstance(row[k], bool) and math.isfinite(row[k])
        for k, kind in ROW_COLUMNS.items()
    )


def _list(value: Any, where: str) -> list:
    _check(isinstance(value, list), where, "a population column is not a list")
    return value


def _array(value: Any, dtype, where: str, name: str) -> np.ndarray:
    """``value`` (nested lists of numbers only) as an array of ``dtype``."""
    _check(isinstance(value, list) and _numbers_only(value, dtype), where, f"population {name} holds something other than numbers")
    try:
        return np.array(value, dtype=dtype)
    except (ValueError, OverflowError):
        raise RunDirError(f"{where} is not a valid checkpoint: population {name} is ragged; start a new run") from None


def _numbers_only(value: Any, dtype) -> bool:
    if isinstance(value, list):
        return all(_numbers_only(v, dtype) for v in value)
    if dtype is np.int64:
        return _is_int(value) and -(2**63) <= value < 2**63
    return isinstance(value, float) or _is_int(value)


def _floats_out(values) -> list:
    """Floats for JSON; infinities and NaN as the strings "inf", "-inf", "nan"."""
    return [float(v) if math.isfinite(v) else repr(float(v)) for v in values]


def _value_out(value, kind: type) -> int | float | str | None:
    """One per-individual value for JSON: None stays None (a network survival did not rank)."""
    if value is None:
        return None
    return int(value) if kind is int else _floats_out([value])[0]


def _floats_in(values: Any) -> Any:
    if not isinstance(values, list):
        return values
    return [_NON_FINITE.get(v, v) if isinstance(v, str) else v for v in values]
