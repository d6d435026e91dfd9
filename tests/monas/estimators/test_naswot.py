import math

import numpy as np
import pytest
import torch

from monas.data import load_dataset, scoring_data
from monas.estimators import ESTIMATORS
from monas.estimators.naswot import SINGULAR, naswot_kernel

from tests.monas.estimators.cells import CONVS, DARTS, MIXED, NONES, SKIPS, estimate


@pytest.fixture(scope="module")
def data():
    return scoring_data(load_dataset("digits", None), 200, 100, seed=0)


def test_asks_for_one_minibatch():
    estimator = ESTIMATORS.create("naswot", batch_size=64, seed=0)
    assert (estimator.n_train, estimator.n_val) == (64, 1)


def test_same_seed_gives_the_same_score_and_the_seed_matters(data):
    a = estimate(ESTIMATORS.create("naswot", seed=3), MIXED, data)
    b = estimate(ESTIMATORS.create("naswot", seed=3), MIXED, data)
    others = {estimate(ESTIMATORS.create("naswot", seed=s), MIXED, data) for s in range(3)}
    assert a == b
    assert math.isfinite(a) and a < 0
    assert len(others) > 1


def test_convolutions_separate_images_better_than_skips_and_nones(data):
    estimator = ESTIMATORS.create("naswot", seed=0)
    convs, mixed, skips = (estimate(estimator, arch, data) for arch in (CONVS, MIXED, SKIPS))
    assert convs < mixed < skips < 0
    # All-none cells zero the signal, so every image gets the same codes: K is singular.
    assert estimate(estimator, NONES, data) == SINGULAR


def test_the_kernel_counts_agreeing_units():
    # One ReLU over 3 units; codes 110, 100, 011: K[i, j] = 3 - Hamming distance.
    net = torch.nn.Sequential(torch.nn.ReLU())
    images = torch.tensor([[1.0, 2.0, -1.0], [3.0, 0.0, -2.0], [-1.0, 1.0, 1.0]])
    expected = torch.tensor([[3.0, 2.0, 1.0], [2.0, 3.0, 0.0], [1.0, 0.0, 3.0]], dtype=torch.float64)
    assert torch.equal(naswot_kernel(net, images), expected)
    # Two ReLUs add their kernels.
    twice = torch.nn.Sequential(torch.nn.ReLU(), torch.nn.ReLU())
    assert torch.equal(naswot_kernel(twice, images), 2 * expected)


def test_the_minibatch_is_a_seeded_subset(data):
    # Half the images (seed-chosen) give a different score from the full 128 batch.
    small = estimate(ESTIMATORS.create("naswot", batch_size=64, seed=0), MIXED, data)
    again = estimate(ESTIMATORS.create("naswot", batch_size=64, seed=0), MIXED, data)
    full = estimate(ESTIMATORS.create("naswot", batch_size=128, seed=0), MIXED, data)
    assert small == again
    assert small > full  # fewer images, a smaller determinant


def test_scores_darts_networks(data):
    genome = np.array([3, 0, 3, 1, 5, 1, 2, 0, 4, 2, 3, 1, 6, 3, 1, 0] * 2)
    value = estimate(ESTIMATORS.create("naswot", seed=0), DARTS.to_string(genome), data, space=DARTS)
    assert math.isfinite(value) and value < 0


def test_bad_batch_size_is_rejected():
    with pytest.raises(ValueError, match="batch_size"):
        ESTIMATORS.create("naswot", batch_size=1)
