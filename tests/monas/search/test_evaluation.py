import math

import numpy as np
import pytest
import torch

from monas.data import load_dataset, scoring_data
from monas.estimators.base import Estimator
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
