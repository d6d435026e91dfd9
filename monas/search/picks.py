"""Choosing which members of a search's Pareto front to train.

A pick specification is one of:
``all``; ``knee`` (the member farthest below the chord joining the front's two ends,
error and MACs each scaled to [0, 1] over the front); ``even:N`` (N members whose MACs
are nearest to N evenly spaced values from the smallest to the largest MACs of the
front, each member at most once); ``index:I,J,...`` or just ``I,J,...`` (positions in
``pareto.json``'s member list, which is sorted by MACs).
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from monas.search.record import RunDirError, RunRecord


class PickError(ValueError):
    """A pick specification that does not apply to the front; the message says why."""


@dataclass(frozen=True)
class Pick:
    """One chosen Pareto member: its position in pareto.json, architecture string and
    recorded objectives (error in %, MACs, params)."""

    index: int
    arch: str
    objectives: dict
    generation: int | None = None


def read_front(run_dir: str | os.PathLike, space: str | None = "darts") -> tuple[list[Pick], dict]:
    """Every member of ``run_dir``'s pareto.json, and the run's recorded configuration.
    RunDirError when the folder holds no finished run, or (with ``space``) a run of
    another search space."""
    record = RunRecord.open(run_dir)
    recorded = record.read_config()
    config = recorded.get("config") if isinstance(recorded, dict) else None
    if not isinstance(config, dict):
        raise RunDirError(f"{run_dir}/config.json is not a search's configuration")
    if space is not None and config.get("space") != space:
        raise RunDirError(f"{run_dir} searched the {config.get('space')!r} space; only {space} genotypes can be trained here")
    try:
        pareto = record.read_pareto()
    except (OSError, ValueError) as exc:
        raise RunDirError(f"{run_dir} has no readable pareto.json ({type(exc).__name__}); has its search finished a generation?") from None
    try:
        members = [_member(i, m) for i, m in enumerate(pareto.get("members", []))]
    except (AttributeError, KeyError, TypeError, ValueError):
        raise RunDirError(f"{run_dir}/pareto.json is damaged (members need arch, error, macs and params)") from None
    if not members:
        raise RunDirError(f"{run_dir}/pareto.json lists no members")
    return members, config


def _member(index: int, record: dict) -> Pick:
    """One pareto.json member, its fields checked (arch a string, objectives finite numbers)."""
    objectives = {key: float(record["objectives"][key]) for key in ("error", "macs", "params")}
    if not isinstance(record["arch"], str) or not all(np.isfinite(v) for v in objectives.values()):
        raise ValueError(index)
    generation = record.get("generation")
    return Pick(index, record["arch"], {**record["objectives"], **objectives},
                generation if isinstance(generation, int) else None)


def choose(members: list[Pick], spec: str) -> list[Pick]:
    """The members ``spec`` (see the module docstring) selects, in front order."""
    spec = spec.strip()
    if spec == "all":
        return list(members)
    if spec == "knee":
        return [members[knee_index(members)]]
    kind, sep, rest = spec.partition(":")
    if sep and kind == "even":
        try:
            n = int(rest)
        except ValueError:
            raise PickError(f"even:N needs a whole number, got {rest!r}") from None
        return [members[i] for i in sorted(evenly_spaced(members, n))]
    text = rest if sep and kind == "index" else spec
    try:
        indices = [int(part) for part in text.split(",")]
    except ValueError:
        raise PickError(f"unknown pick {spec!r} (all, knee, even:N, index:I,J,...)") from None
    bad = [i for i in indices if not 0 <= i < len(members)]
    if bad:
        raise PickError(f"member {bad[0]} does not exist; the front has members 0..{len(members) - 1}")
    return [members[i] for i in sorted(set(indices))]


def _scaled(values: np.ndarray) -> np.ndarray:
    span = values.max() - values.min()
    return (values - values.min()) / span if span > 0 else np.zeros_like(values)


def knee_index(members: list[Pick]) -> int:
    """Position of the knee: the member farthest below the straight line joining the
    lowest-MACs and lowest-error ends (error and MACs scaled to [0, 1] over the front);
    ties, and fronts of one or two members, go to the member nearest the ideal point."""
    error = _scaled(np.array([m.objectives["error"] for m in members], dtype=float))
    macs = _scaled(np.array([m.objectives["macs"] for m in members], dtype=float))
    # On a front scaled so, the ends are (0, 1) and (1, 0); the chord is macs + error = 1.
    below = (1.0 - macs - error) / np.sqrt(2.0)
    ideal = np.hypot(macs, error)
    return int(np.lexsort((ideal, -np.round(below, 12)))[0])


def evenly_spaced(members: list[Pick], n: int) -> list[int]:
    """Positions of ``n`` distinct members whose MACs are nearest to ``n`` evenly spaced
    targets from the front's smallest to its largest MACs (targets taken in turn)."""
    if not 1 <= n <= len(members):
        raise PickError(f"even:{n} asks for {n} members; the front has {len(members)}")
    macs = np.array([m.objectives["macs"] for m in members], dtype=float)
    targets = np.linspace(macs.min(), macs.max(), n) if n > 1 else np.array([np.median(macs)])
    chosen: list[int] = []
    for target in targets:
        distance = np.abs(macs - target)
        distance[chosen] = np.inf
        chosen.append(int(np.argmin(distance)))
    return chosen


def table(picks: list[Pick]) -> str:
    """The picks as a fixed-width table (member, error %, MACs, params, generation),
    followed by each member's architecture string."""
    lines = [f"{'member':>6}  {'error %':>8}  {'MACs (M)':>9}  {'params (M)':>10}  {'generation':>10}"]
    for p in picks:
        o = p.objectives
        generation = "" if p.generation is None else str(p.generation)
        lines.append(f"{p.index:>6}  {o['error']:>8.2f}  {o['macs'] / 1e6:>9.2f}  {o['params'] / 1e6:>10.3f}  {generation:>10}")
    lines += [f"member {p.index}: {p.arch}" for p in picks]
    return "\n".join(lines)
