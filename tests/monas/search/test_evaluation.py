import math

import numpy as np
import pytest
import torch

from monas.data import load_dataset, scoring_data
from monas.estimators.base import Estimator
from monas.latency import WORST_LATENCY_MS, LatencyProbe
from monas.search.evaluation import Evaluator
from search_spaces import SPACES

SPACE = SPACES.create("darts", init_channels=4, layers=3)


class Scripted(Estimator):
    """Returns or raises what it is told to."""

    worst = 100.0

    def __init__(self, outcome):
        self.outcome = outcome

    def estimate(self, arch, build, data, device):
        if isinstance(self.outcome, BaseException):
            raise self.outcome
        return self.outcome


@pytest.fixture(scope="module")
def parts():
    images = load_dataset("digits", None)
    return images.spec, scoring_data(images, 20, 10, seed=0)


@pytest.mark.parametrize(
    "outcome, message",
    [
        (RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB"), "RuntimeError: CUDA out of memory"),
        (torch.cuda.OutOfMemoryError("out of memory"), "OutOfMemoryError: out of memory"),
        (float("nan"), "ValueError: estimator returned nan"),
        (ZeroDivisionError("division by zero"), "ZeroDivisionError: division by zero"),
    ],
)
def test_a_failed_evaluation_is_recorded_with_the_worst_value(parts, outcome, message):
    spec, data = parts
    genome = SPACE.bounds[1]
    evaluation = Evaluator(SPACE, spec, Scripted(outcome), data, torch.device("cpu"))(genome, 3)
    assert evaluation.status == "failed" and evaluation.failure.startswith(message)
    assert evaluation.objectives["error"] == 100.0 and evaluation.generation == 3
    assert evaluation.objectives["macs"] > 0 and not math.isnan(evaluation.objectives["params"])


def test_a_good_evaluation(parts):
    spec, data = parts
    evaluation = Evaluator(SPACE, spec, Scripted(12.5), data, torch.device("cpu"))(np.zeros(SPACE.n_var, dtype=int), 1)
    assert evaluation.status == "ok" and evaluation.failure is None and evaluation.objectives["error"] == 12.5


def test_latency_is_recorded_when_a_probe_is_given(parts, monkeypatch):
    monkeypatch.setattr("monas.latency.MIN_RUN_S", 0.01)
    spec, data = parts
    genome = np.zeros(SPACE.n_var, dtype=int)
    plain = Evaluator(SPACE, spec, Scripted(12.5), data, torch.device("cpu"))(genome, 1)
    timed = Evaluator(SPACE, spec, Scripted(12.5), data, torch.device("cpu"), LatencyProbe(torch.device("cpu"), 2))(genome, 1)
    assert "latency" not in plain.objectives and timed.objectives["latency"] > 0 and timed.status == "ok"
    assert {k: v for k, v in timed.objectives.items() if k != "latency"} == plain.objectives


def test_a_network_that_cannot_be_timed_is_failed_with_the_worst_latency(parts):
    class Broken(LatencyProbe):
        def __call__(self, net, spec):
            raise RuntimeError("CUDA out of memory")

    spec, data = parts
    evaluation = Evaluator(SPACE, spec, Scripted(12.5), data, torch.device("cpu"), Broken(torch.device("cpu")))(SPACE.bounds[1], 2)
    assert evaluation.status == "failed" and evaluation.failure == "latency: RuntimeError: CUDA out of memory"
    assert evaluation.objectives["latency"] == WORST_LATENCY_MS and evaluation.objectives["error"] == 12.5
