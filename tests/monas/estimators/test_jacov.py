import math

import numpy as np
import pytest
import torch

from monas.data import load_dataset, scoring_data
from monas.estimators import ESTIMATORS
from monas.estimators.jacov import DISCONNECTED, K, jacov_score

from tests.monas.estimators.cells import CONVS, DARTS, MIXED, NONES, estimate

CUT = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|none~0|none~1|none~2|"


@pytest.fixture(scope="module")
def data():
    return scoring_data(load_dataset("digits", None), 40, 10, seed=0)


def test_asks_for_one_minibatch():
    estimator = ESTIMATORS.create("jacov", batch_size=24, seed=0)
    assert (estimator.n_train, estimator.n_val) == (24, 1)


def test_same_seed_gives_the_same_score_and_the_seed_matters(data):
    a = estimate(ESTIMATORS.create("jacov", seed=3), MIXED, data)
    b = estimate(ESTIMATORS.create("jacov", seed=3), MIXED, data)
    others = {estimate(ESTIMATORS.create("jacov", seed=s), MIXED, data) for s in range(3)}
    assert a == b
    assert math.isfinite(a)
    assert len(others) > 1


def test_a_linear_network_scores_worse_than_a_nonlinear_one_and_disconnected_networks_worst(data):
    # Linear in its input, a network has the same Jacobian for every image: correlation
    # all ones, N - 1 zero eigenvalues. ReLUs give each image its own Jacobian.
    estimator = ESTIMATORS.create("jacov", seed=0)
    cpu = torch.device("cpu")
    linear = estimator.estimate("", lambda: torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(256, 10)), data, cpu)
    relu = estimator.estimate(
        "",
        lambda: torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(256, 64), torch.nn.ReLU(), torch.nn.Linear(64, 10)),
        data,
        cpu,
    )
    assert relu < linear < DISCONNECTED
    assert linear > (estimator.batch_size - 1) / K / 2
    assert estimate(estimator, CONVS, data) < DISCONNECTED
    assert estimate(estimator, NONES, data) == DISCONNECTED
    assert estimate(estimator, CUT, data) == DISCONNECTED < estimator.worst


def test_the_score_matches_hand_computed_eigenvalues():
    # Uncorrelated Jacobians: correlation I, eigenvalues 1, 1.
    uncorrelated = torch.tensor([[1.0, -1.0, 1.0, -1.0], [1.0, 1.0, -1.0, -1.0]])
    assert jacov_score(uncorrelated) == pytest.approx(-2 * (math.log(1 + K) + 1 / (1 + K)), rel=1e-12)
    # Identical Jacobians up to scale: correlation all ones, eigenvalues 0 and 2.
    parallel = torch.tensor([[1.0, 2.0, 3.0, 5.0], [2.0, 4.0, 6.0, 10.0]])
    expected = -(math.log(K) + 1 / K + math.log(2 + K) + 1 / (2 + K))
    assert jacov_score(parallel) == pytest.approx(expected, rel=1e-9)
    # A constant Jacobian has no correlation: NaN, which the estimator reports as an error.
    assert math.isnan(jacov_score(torch.tensor([[1.0, 2.0, 3.0, 5.0], [0.0, 0.0, 0.0, 0.0]])))


def test_scores_darts_networks(data):
    genome = np.array([3, 0, 3, 1, 5, 1, 2, 0, 4, 2, 3, 1, 6, 3, 1, 0] * 2)
    value = estimate(ESTIMATORS.create("jacov", seed=0), DARTS.to_string(genome), data, space=DARTS)
    assert math.isfinite(value) and value < DISCONNECTED


@pytest.mark.parametrize("batch_size", [1, 10_000])
def test_bad_batch_size_is_rejected(batch_size):
    with pytest.raises(ValueError, match="batch_size"):
        ESTIMATORS.create("jacov", batch_size=batch_size)
