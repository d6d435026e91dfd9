"""One network from genome to objectives: build, count complexity, estimate error,
and, when asked, measure latency."""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from typing import Callable

import numpy as np
import torch
from torch import nn

from monas.complexity import count_complexity
from monas.data import ScoringData
from monas.estimators.base import Estimator
from monas.latency import WORST_LATENCY_MS, LatencyProbe
from search_spaces.base import InputSpec, SearchSpace

ERROR_DECIMALS = 6
"""Decimals kept of an estimate: far finer than any estimator resolves (RWE's error
moves in steps of 100 / n_val %), coarse enough to drop float noise."""


@dataclass
class Evaluation:
    """What is known about one evaluated network: its canonical architecture string,
    the genome first seen for it, every measured objective, and how it went
    (``status`` "ok" or "failed"; ``failure`` says why a failed one failed)."""

    arch: str
    genome: list[int]
    objectives: dict[str, float]
    seconds: float
    generation: int
    status: str = "ok"
    failure: str | None = None

    def to_json(self) -> dict:
        """A JSON-serialisable dict (one archive line)."""
        return asdict(self)

    @classmethod
    def from_json(cls, row: dict) -> "Evaluation":
        """Inverse of ``to_json``; also reads archive lines of earlier versions, which
        called ``failure`` "error"."""
        if "error" in row:
            row = {**row, "failure": row["error"]}
            del row["error"]
        return cls(**row)


def estimate_or_worst(
    estimator: Estimator, arch: str, build: Callable[[], nn.Module], data: ScoringData | None, device: torch.device
) -> tuple[float, str | None]:
    """``(estimate, None)``, or ``(estimator.worst, message)`` when the estimator raises
    or returns a non-finite number: a network that cannot be scored ranks last."""
    try:
        value = estimator.estimate(arch, build, data, device)
        if not math.isfinite(value):
            raise ValueError(f"estimator returned {value}")
    except Exception as exc:  # noqa: BLE001 - any failure (incl. out-of-memory) is recorded, the caller goes on
        return float(estimator.worst), f"{type(exc).__name__}: {exc}"
    return float(value), None


def latency_or_worst(probe: LatencyProbe, net: nn.Module, spec: InputSpec) -> tuple[float, str | None]:
    """``(milliseconds, None)``, or ``(WORST_LATENCY_MS, message)`` when timing ``net``
    raises (out of memory at a large batch, say): a network that cannot be timed ranks
    last and breaks every latency bound."""
    try:
        return probe(net, spec), None
    except Exception as exc:  # noqa: BLE001 - recorded, the caller goes on
        return WORST_LATENCY_MS, f"latency: {type(exc).__name__}: {exc}"


class Evaluator:
    """Turns genomes into Evaluations for one space, dataset and estimator.

    Cheap objectives (MACs, params) are always recorded; the error is measured by the
    estimator, which is prepared for the space on construction; the latency only when a
    ``latency`` probe is given, in the process (and on the device) that evaluates. A
    network the estimator cannot score (or the probe cannot time) is recorded with
    status ``"failed"`` and the worst value, so a search moves on.
    """

    def __init__(
        self, space: SearchSpace, spec: InputSpec, estimator: Estimator, data: ScoringData | None, device: torch.device,
        latency: LatencyProbe | None = None,
    ) -> None:
        self.space = space
        self.spec = spec
        self.estimator = estimator
        self.device = device
        self.latency = latency
        self._data = data
        self._device_data: ScoringData | None = None
        estimator.prepare(space, spec, self.data, device)

    @property
    def data(self) -> ScoringData | None:
        """The scoring data on ``device``, moved there on first use in each process (so
        an evaluator sent to Dask workers moves it onto each worker's own GPU)."""
        if self._device_data is None and self._data is not None:
            self._device_data = self._data.to(self.device)
        return self._device_data

    def __getstate__(self):
        return {**self.__dict__, "_device_data": None}

    def __call__(self, genome: np.ndarray, generation: int) -> Evaluation:
        start = time.perf_counter()
        arch = self.space.canonical(genome)
        net = self.space.build(arch, self.spec)  # counted, then timed: one build per network
        macs, params = count_complexity(net, self.spec, copy_first=False)
        latency, timing_failure = latency_or_worst(self.latency, net, self.spec) if self.latency else (None, None)
        del net  # on the latency device: freed before the estimator builds its own
        error, message = estimate_or_worst(
            self.estimator, arch, lambda: self.space.build(arch, self.spec), self.data, self.device
        )
        # counts are integers; the estimate is rounded to ERROR_DECIMALS, which drops float
        # noise (7.000000000000001) and is what the search itself is given
        objectives = {"error": round(float(error), ERROR_DECIMALS), "macs": int(macs), "params": int(params)}
        if latency is not None:
            objectives["latency"] = latency
        failure = "; ".join(f for f in (message, timing_failure) if f is not None) or None
        return Evaluation(
            arch=arch,
            genome=[int(g) for g in genome],
            objectives=objectives,
            seconds=round(time.perf_counter() - start, 3),
            generation=generation,
            status="ok" if failure is None else "failed",
            failure=failure,
        )
