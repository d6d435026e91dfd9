import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from monas.data import load_dataset, scoring_data
from monas.estimators import ESTIMATORS
from monas.estimators.zico import DISCONNECTED, zico_score

from tests.monas.estimators.cells import CONVS, DARTS, MIXED, NONES, estimate

# Node 3 is reached only through none edges: the output ignores the input.
CUT = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|none~0|none~1|none~2|"
JOINED = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|none~0|none~1|nor_conv_3x3~2|"


@pytest.fixture(scope="module")
def data():
    return scoring_data(load_dataset("digits", None), 40, 10, seed=0)


def test_asks_for_one_minibatch():
    estimator = ESTIMATORS.create("zico", batch_size=12, batches=3, seed=0)
    assert (estimator.n_train, estimator.n_val) == (12, 1)


def test_same_seed_gives_the_same_score_and_the_seed_matters(data):
    a = estimate(ESTIMATORS.create("zico", seed=3), MIXED, data)
    b = estimate(ESTIMATORS.create("zico", seed=3), MIXED, data)
    others = {estimate(ESTIMATORS.create("zico", seed=s), MIXED, data) for s in range(3)}
    assert a == b
    assert math.isfinite(a) and a < 0
    assert len(others) > 1


def test_disconnected_networks_score_worst(data):
    estimator = ESTIMATORS.create("zico", seed=0)
    assert estimate(estimator, NONES, data) == DISCONNECTED
    assert estimate(estimator, CUT, data) == DISCONNECTED
    assert estimate(estimator, JOINED, data) < DISCONNECTED < estimator.worst
    assert estimate(estimator, CONVS, data) < estimate(estimator, JOINED, data)


def test_the_score_matches_a_hand_computed_linear_network():
    # One linear layer, two minibatches of two images: per weight mean|g| / std(g) over
    # the two minibatch gradients, summed, logged.
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(3, 2, bias=False))
    x, y = torch.randn(4, 3), torch.tensor([0, 1, 1, 0])
    g = []
    for part in (slice(0, 2), slice(2, 4)):
        w = net[0].weight.detach().clone().requires_grad_(True)
        F.cross_entropy(x[part] @ w.T, y[part]).backward()
        g.append(w.grad.double().flatten())
    g1, g2 = g
    expected = math.log(float((((g1.abs() + g2.abs()) / 2) / ((g1 - g2).abs() / 2)).sum()))
    assert zico_score(net, x, y, batches=2) == pytest.approx(expected, rel=1e-9)


def test_scores_darts_networks(data):
    genome = np.array([3, 0, 3, 1, 5, 1, 2, 0, 4, 2, 3, 1, 6, 3, 1, 0] * 2)
    value = estimate(ESTIMATORS.create("zico", seed=0), DARTS.to_string(genome), data, space=DARTS)
    assert math.isfinite(value) and value < 0


@pytest.mark.parametrize("knobs, name", [({"batches": 1}, "batches"), ({"batch_size": 3}, "batch_size")])
def test_bad_knobs_are_rejected(knobs, name):
    with pytest.raises(ValueError, match=name):
        ESTIMATORS.create("zico", **knobs)
