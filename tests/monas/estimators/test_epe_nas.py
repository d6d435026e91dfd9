import math

import numpy as np
import pytest
import torch

from monas.data import load_dataset, scoring_data
from monas.estimators import ESTIMATORS, EstimationError
from monas.estimators.epe_nas import DISCONNECTED, K, epe_nas_score

from tests.monas.estimators.cells import CONVS, DARTS, MIXED, NONES, estimate

CUT = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|none~0|none~1|none~2|"


@pytest.fixture(scope="module")
def data():
    return scoring_data(load_dataset("digits", None), 40, 10, seed=0)


def small(seed=0):
    return ESTIMATORS.create("epe-nas", batch_size=30, seed=seed)


def test_asks_for_one_minibatch():
    assert (small().n_train, small().n_val) == (30, 1)
    assert ESTIMATORS.create("epe-nas").batch_size == 32


def test_same_seed_gives_the_same_score_and_the_seed_matters(data):
    a = estimate(small(3), MIXED, data)
    b = estimate(small(3), MIXED, data)
    others = {estimate(small(s), MIXED, data) for s in range(3)}
    assert a == b
    assert math.isfinite(a) and a < 0
    assert len(others) > 1


def test_a_linear_network_scores_worse_than_a_nonlinear_one_and_disconnected_networks_worst(data):
    # Linear in its input, a network gives every image the same Jacobian: all
    # correlations 1, every log(|corr| + k) ~ 0, score ~ 0. ReLUs decorrelate them.
    estimator, cpu = small(), torch.device("cpu")
    linear = estimator.estimate("", lambda: torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(256, 10)), data, cpu)
    relu = estimator.estimate(
        "",
        lambda: torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(256, 64), torch.nn.ReLU(), torch.nn.Linear(64, 10)),
        data,
        cpu,
    )
    assert relu < linear <= 0
    assert linear == pytest.approx(0.0, abs=1e-2)
    assert estimate(estimator, CONVS, data) < 0
    assert estimate(estimator, NONES, data) == DISCONNECTED
    assert estimate(estimator, CUT, data) == DISCONNECTED < estimator.worst


def test_the_score_matches_hand_computed_class_correlations():
    # Class 0: two Jacobians with correlation r; class 1: one image (its matrix is [1]).
    jacobians = torch.tensor([[1.0, 2.0, 3.0, 4.0], [1.0, 3.0, 2.0, 5.0], [0.0, 1.0, 0.0, 2.0]])
    labels = torch.tensor([0, 0, 1])
    r = float(np.corrcoef(jacobians[:2].numpy())[0, 1])
    s0 = 2 * math.log(1 + K) + 2 * math.log(abs(r) + K)
    s1 = math.log(1 + K)
    assert epe_nas_score(jacobians, labels, num_classes=10) == pytest.approx(abs(s0) + abs(s1), rel=1e-9)

def test_over_100_classes_pairwise_differences_of_per_image_averages_without_single_images():
    jacobians = torch.tensor(
        [[1.0, 2.0, 3.0, 4.0], [1.0, 3.0, 2.0, 5.0], [0.0, 1.0, 0.0, 2.0], [2.0, 1.0, 0.0, 1.0], [3.0, 1.0, 4.0, 1.0]]
    )
    labels = torch.tensor([0, 0, 1, 1, 2])  # class 2 has a single image: left out
    r0 = float(np.corrcoef(jacobians[:2].numpy())[0, 1])
    r1 = float(np.corrcoef(jacobians[2:4].numpy())[0, 1])
    s0 = (2 * math.log(1 + K) + 2 * math.log(abs(r0) + K)) / 2
    s1 = (2 * math.log(1 + K) + 2 * math.log(abs(r1) + K)) / 2
    assert epe_nas_score(jacobians, labels, num_classes=200) == pytest.approx(2 * abs(s0 - s1) / 2, rel=1e-9)
    with pytest.raises(EstimationError, match="batch_size"):
        epe_nas_score(jacobians[2:], labels[2:] + torch.tensor([0, 1, 2]), num_classes=200)


def test_scores_darts_networks(data):
    genome = np.array([3, 0, 3, 1, 5, 1, 2, 0, 4, 2, 3, 1, 6, 3, 1, 0] * 2)
    value = estimate(small(), DARTS.to_string(genome), data, space=DARTS)
    assert math.isfinite(value) and value < 0


def test_bad_batch_size_is_rejected():
    with pytest.raises(ValueError, match="batch_size"):
        ESTIMATORS.create("epe-nas", batch_size=1)
