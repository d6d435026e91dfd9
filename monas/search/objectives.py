"""The objectives a search can minimise, and the bounds it can keep them under,
declared apart from the search loop (this module imports nothing heavy).

Each objective is marked cheap (counted from the architecture alone) or expensive (the
network has to run: the estimator on data, or timed forward passes). A bound
(``--max-macs 600M``) makes a quantity a constraint of the search whether or not it is
also minimised.
"""
from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Objective:
    """A minimised quantity recorded for every evaluated network."""

    name: str
    expensive: bool
    unit: str
    description: str


OBJECTIVES: dict[str, Objective] = {
    o.name: o
    for o in (
        Objective("error", True, "%", "validation error estimated by the chosen estimator"),
        Objective("macs", False, "MACs", "multiply-accumulates for one image, counted by thop"),
        Objective("params", False, "params", "number of parameters"),
        Objective("latency", True, "ms", "median milliseconds of one forward pass, measured (monas.latency)"),
    )
}

OBJECTIVES_HELP = "error followed by one or more of macs, params, latency, comma-separated (e.g. error,macs or error,latency)"

BOUNDED = ("macs", "params", "latency")
"""The quantities a search can be bounded on (``--max-<name>``)."""

_SUFFIXES = {"K": 1e3, "M": 1e6, "G": 1e9}


def parse_objectives(text: str) -> tuple[Objective, ...]:
    """``"error,macs"`` -> the Objective records: ``error`` first, then one or more
    other known objectives, each once; ValueError saying what is allowed."""
    names = text.split(",")
    unknown = [n for n in names if n not in OBJECTIVES]
    if unknown:
        raise ValueError(f"unknown objectives {text!r}: {unknown[0]!r} is not one of {', '.join(OBJECTIVES)}")
    if names[0] != "error" or len(names) < 2 or len(set(names)) != len(names):
        raise ValueError(f"--objectives {text!r}: give {OBJECTIVES_HELP}, each once")
    return tuple(OBJECTIVES[name] for name in names)


def parse_bound(name: str, text: str) -> int | float:
    """The bound of ``--max-<name> text``: a positive finite number; MACs and params may
    end in K, M or G (``600M``, ``3.5M``), a latency is in milliseconds. Counts come
    back as ints when whole. ValueError saying what is allowed."""
    value: float | None
    scale = _SUFFIXES.get(text[-1:].upper(), 1.0) if name != "latency" else 1.0
    number = text[:-1] if scale != 1.0 else text
    try:
        value = float(number) * scale
    except ValueError:
        value = None
    if value is None or not (math.isfinite(value) and value > 0):
        example = "number of milliseconds such as 12.5" if name == "latency" else "number such as 600M or 3.5M (K, M, G)"
        raise ValueError(f"--max-{name} must be a positive {example}, got {text!r}")
    return int(value) if name != "latency" and value.is_integer() else value


def check_bounds(bounds: dict) -> None:
    """ValueError unless ``bounds`` maps names of ``BOUNDED`` to positive finite numbers
    (what ``parse_bound`` makes, as config.json records it)."""
    for name, value in bounds.items():
        if name not in BOUNDED:
            raise ValueError(f"unknown bound {name!r} (known: {', '.join(BOUNDED)})")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not (math.isfinite(value) and value > 0):
            raise ValueError(f"--max-{name} must be a positive number, got {value!r}")


def measured_quantities(objectives: str, bounds: dict) -> list[str]:
    """The minimised objectives, then every other bounded quantity: what each evaluated
    network must have measured."""
    names = [o.name for o in parse_objectives(objectives)]
    return names + [name for name in BOUNDED if name in bounds and name not in names]


def bound_violations(values: dict, bounds: dict) -> list[float]:
    """``value / bound - 1`` for each bounded quantity of a network's ``values``: at most
    0 within the bound (pymoo's inequality constraints ``G``; scaled by the bound, so
    that a 10 % overshoot weighs the same for MACs as for latency)."""
    return [values[name] / bound - 1.0 for name, bound in bounds.items()]


def within_bounds(values: dict, bounds: dict) -> bool:
    """Whether a network's ``values`` meet every bound (no bounds: always)."""
    return all(v <= 0 for v in bound_violations(values, bounds))


def describe_bounds(bounds: dict) -> str:
    """``{"macs": 600000000, "latency": 5.0}`` -> ``"--max-macs 600M, --max-latency 5 ms"``."""
    return ", ".join(f"--max-{name} {_short(value, name)}" for name, value in bounds.items())


def _short(value: float, name: str) -> str:
    if name == "latency":
        return f"{value:g} ms"
    for suffix, factor in sorted(_SUFFIXES.items(), key=lambda item: -item[1]):
        if value >= factor:
            return f"{value / factor:g}{suffix}"
    return f"{value:g}"
