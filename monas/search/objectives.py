"""The objectives a search can minimise, declared apart from the search loop.

Each is marked cheap (counted from the architecture alone) or expensive (needs the
estimator to look at data); the evaluator computes cheap ones first.
"""
from __future__ import annotations

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
    )
}

OBJECTIVE_SETS = ("error,macs", "error,params", "error,macs,params")


def parse_objectives(text: str) -> tuple[Objective, ...]:
    """``"error,macs"`` -> the Objective records; ValueError naming the allowed sets."""
    if text not in OBJECTIVE_SETS:
        raise ValueError(f"unknown objectives {text!r} (choose one of: {' | '.join(OBJECTIVE_SETS)})")
    return tuple(OBJECTIVES[name] for name in text.split(","))
