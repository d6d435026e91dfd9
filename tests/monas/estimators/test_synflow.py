import math

import numpy as np
import pytest
import torch

from monas.data import load_dataset, scoring_data
from monas.estimators import ESTIMATORS
from monas.estimators.synflow import ZERO_FLOW, synflow_score

from tests.monas.estimators.cells import CONVS, DARTS, MIXED, NB201, NONES, SKIPS, estimate


@pytest.fixture(scope="module")
def data():
    return scoring_data(load_dataset("digits", None), 1, 1, seed=0)


def test_same_seed_gives_the_same_score_and_other_seeds_other_scores(data):
    a = estimate(ESTIMATORS.create("synflow", seed=3), MIXED, data)
    b = estimate(ESTIMATORS.create("synflow", seed=3), MIXED, data)
    others = {estimate(ESTIMATORS.create("synflow", seed=s), MIXED, data) for s in range(4)}
    assert a == b
    assert math.isfinite(a)
    assert len(others) > 1


def test_a_cell_of_none_edges_carries_no_flow(data):
    # With batch-norm bypassed and absolute weights, zero cell outputs stay zero to the
    # classifier, so no weight receives gradient: the score is 0, the estimate the worst.
    estimator = ESTIMATORS.create("synflow", seed=0)
    none = estimate(estimator, NONES, data)
    assert none == ZERO_FLOW
    for arch in (CONVS, MIXED, SKIPS):
        assert estimate(estimator, arch, data) < none


def test_more_convolutions_carry_more_flow(data):
    estimator = ESTIMATORS.create("synflow", seed=0)
    scores = [estimate(estimator, arch, data) for arch in (CONVS, MIXED, SKIPS)]
    assert scores[0] < scores[1] < scores[2]


def test_the_estimate_is_minus_the_log_of_the_score_on_an_all_ones_image(data):
    spec = load_dataset("digits", None).spec
    torch.manual_seed(0)
    score = synflow_score(NB201.build(MIXED, spec), (1, 16, 16), torch.device("cpu"))
    assert estimate(ESTIMATORS.create("synflow", seed=0), MIXED, data) == pytest.approx(-math.log(score), rel=1e-12)
    # The images are not used: other pixel values give the same score.
    other = type(data)(torch.randn_like(data.train_x), data.train_y, data.val_x, data.val_y, data.num_classes)
    assert estimate(ESTIMATORS.create("synflow", seed=0), MIXED, other) == estimate(
        ESTIMATORS.create("synflow", seed=0), MIXED, data
    )


def test_the_score_matches_a_hand_computed_linear_network():
    # y = sum(|W2| |W1| x) with x = 1: flow through W1[j, i] is |W1[j,i]| * sum_k |W2[k,j]|.
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3, bias=False), torch.nn.ReLU(), torch.nn.Linear(3, 2, bias=False))
    w1, w2 = net[1].weight.detach().abs().double().clone(), net[3].weight.detach().abs().double().clone()
    expected = float((w1 * w2.sum(0)[:, None]).sum() + (w2 * (w1.sum(1))[None, :]).sum())
    assert synflow_score(net, (1, 2, 2), torch.device("cpu")) == pytest.approx(expected, rel=1e-12)


def test_scores_darts_networks(data):
    genome = np.array([3, 0, 3, 1, 5, 1, 2, 0, 4, 2, 3, 1, 6, 3, 1, 0] * 2)
    value = estimate(ESTIMATORS.create("synflow", seed=0), DARTS.to_string(genome), data, space=DARTS)
    assert math.isfinite(value) and value < ZERO_FLOW
