import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from monas.data import load_dataset, scoring_data
from monas.estimators import ESTIMATORS
from monas.estimators.saliency import DISCONNECTED, fisher_score, grad_norm_score, snip_score

from tests.monas.estimators.cells import CONVS, DARTS, MIXED, NONES, SKIPS, estimate

NAMES = ("grad-norm", "snip", "fisher")
CUT = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|none~0|none~1|none~2|"


@pytest.fixture(scope="module")
def data():
    return scoring_data(load_dataset("digits", None), 40, 10, seed=0)


@pytest.mark.parametrize("name", NAMES)
def test_asks_for_one_minibatch(name):
    estimator = ESTIMATORS.create(name, batch_size=24, seed=0)
    assert (estimator.n_train, estimator.n_val) == (24, 1)


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_gives_the_same_score_and_the_seed_matters(data, name):
    a = estimate(ESTIMATORS.create(name, seed=3), MIXED, data)
    b = estimate(ESTIMATORS.create(name, seed=3), MIXED, data)
    others = {estimate(ESTIMATORS.create(name, seed=s), MIXED, data) for s in range(3)}
    assert a == b
    assert math.isfinite(a) and a < 0
    assert len(others) > 1


@pytest.mark.parametrize("name", NAMES)
def test_more_convolutions_more_saliency_and_disconnected_networks_worst(data, name):
    estimator = ESTIMATORS.create(name, seed=0)
    assert estimate(estimator, CONVS, data) < estimate(estimator, SKIPS, data) < 0
    # The classifier's activations still get gradient when the cells output zero, so
    # fisher alone would score such networks > 0: the disconnection rule decides.
    assert estimate(estimator, NONES, data) == DISCONNECTED
    assert estimate(estimator, CUT, data) == DISCONNECTED < estimator.worst


def _two_layer():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(3, 4, bias=False), torch.nn.ReLU(), torch.nn.Linear(4, 2, bias=False))
    x, y = torch.randn(5, 3), torch.tensor([0, 1, 1, 0, 1])
    w1, w2 = (net[i].weight.detach().clone().requires_grad_(True) for i in (0, 2))
    h = x @ w1.T
    h.retain_grad()
    out = F.relu(h) @ w2.T
    out.retain_grad()
    F.cross_entropy(out, y).backward()
    return net, x, y, (w1, w2), (h, out)


def test_grad_norm_and_snip_match_hand_computed_gradients():
    net, x, y, (w1, w2), _ = _two_layer()
    assert grad_norm_score(net, x, y) == pytest.approx(float(w1.grad.norm() + w2.grad.norm()), rel=1e-6)
    expected = float(((w1 * w1.grad).abs().sum() + (w2 * w2.grad).abs().sum()).detach())
    assert snip_score(net, x, y) == pytest.approx(expected, rel=1e-6)


def test_fisher_matches_hand_computed_activation_saliency():
    # Linear outputs (N, C): F_k = mean_n (a * g)^2 / 2, broadcast over the in_features.
    net, x, y, _, (h, out) = _two_layer()
    per_layer = [0.5 * (a.detach() * a.grad).pow(2).mean(0).sum() * fan_in for a, fan_in in ((h, 3), (out, 4))]
    assert fisher_score(net, x, y) == pytest.approx(float(sum(per_layer)), rel=1e-6)


@pytest.mark.parametrize("name", NAMES)
def test_scores_darts_networks(data, name):
    genome = np.array([3, 0, 3, 1, 5, 1, 2, 0, 4, 2, 3, 1, 6, 3, 1, 0] * 2)
    value = estimate(ESTIMATORS.create(name, seed=0), DARTS.to_string(genome), data, space=DARTS)
    assert math.isfinite(value) and value < 0


@pytest.mark.parametrize("name", NAMES)
def test_bad_batch_size_is_rejected(name):
    with pytest.raises(ValueError, match="batch_size"):
        ESTIMATORS.create(name, batch_size=1)
