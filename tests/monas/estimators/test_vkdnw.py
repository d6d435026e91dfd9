import math

import numpy as np
import pytest
import torch
from torch import nn

from monas.data import load_dataset, scoring_data
from monas.estimators import ESTIMATORS
from monas.estimators.at_init import kaiming_fan_in_init, seeded_build
from monas.estimators.vkdnw import DEGENERATE, decile_entropy, fisher_information
from search_spaces import SPACES

from tests.monas.estimators.cells import CONVS, DARTS, MIXED, NB201, NONES, SKIPS, estimate

SPEC = load_dataset("digits", None).spec
DISCONNECTED = "|nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|nor_conv_3x3~2|"
CONNECTED = "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|none~0|none~1|nor_conv_3x3~2|"


@pytest.fixture(scope="module")
def data():
    return scoring_data(load_dataset("digits", None), 100, 1, seed=0)


def vkdnw(**options):
    return ESTIMATORS.create("vkdnw", **{"batch_size": 16, "seed": 0, **options})


def tensors(arch):
    return len(list(NB201.build(arch, SPEC).parameters()))


def test_same_seed_gives_the_same_estimate_and_the_seed_matters(data):
    a = estimate(vkdnw(seed=3, layers=False), MIXED, data)
    b = estimate(vkdnw(seed=3, layers=False), MIXED, data)
    others = {estimate(vkdnw(seed=s, layers=False), MIXED, data) for s in range(3)}
    assert a == b and math.isfinite(a)
    assert len(others) == 3


def test_the_layer_count_orders_and_the_entropy_breaks_ties(data):
    for arch in (CONVS, MIXED, SKIPS, CONNECTED):
        entropy = -estimate(vkdnw(layers=False), arch, data)
        assert 0 < entropy < math.log(9)
        assert estimate(vkdnw(), arch, data) == pytest.approx(-(tensors(arch) + entropy / math.log(9)))
    assert estimate(vkdnw(), CONVS, data) < estimate(vkdnw(), MIXED, data) < estimate(vkdnw(), SKIPS, data)


@pytest.mark.parametrize("layers", [True, False])
def test_networks_without_signal_are_degenerate(data, layers):
    estimator = vkdnw(layers=layers)
    assert estimate(estimator, NONES, data) == DEGENERATE
    assert estimate(estimator, DISCONNECTED, data) == DEGENERATE
    assert estimate(estimator, CONNECTED, data) < DEGENERATE < estimator.worst


def test_the_statistic_is_the_entropy_of_the_normalised_deciles():
    # 0..100: the deciles are 10, 20, ..., 90; their shares are k / 450.
    shares = np.arange(1, 10) / 45.0
    assert decile_entropy(torch.arange(101.0)) == pytest.approx(-(shares * np.log(shares)).sum(), rel=1e-12)
    # A flat spectrum has the largest entropy, log 9; negative round-off counts as 0.
    assert decile_entropy(torch.full((50,), 3.0)) == pytest.approx(math.log(9))
    assert math.isnan(decile_entropy(torch.zeros(20)))


def test_the_fisher_matrix_of_a_linear_model_is_known():
    # logits = W x + b: d logit_c / d W[0, 0] = x_0 [c == 0], d logit_c / d b[0] = [c == 0],
    # so F = mean_n cov_n[0, 0] * [[x0^2, x0], [x0, 1]] with cov = diag(p) - p p^T.
    net = nn.Linear(3, 4).eval()
    x = torch.randn(6, 3)
    probs = torch.softmax(net(x).double(), dim=1) * 0.9 + 0.1 / 4
    weight = probs[:, 0] * (1 - probs[:, 0])
    x0 = x[:, 0].double()
    expected = torch.stack([torch.stack([(weight * x0**2).mean(), (weight * x0).mean()]),
                            torch.stack([(weight * x0).mean(), weight.mean()])])
    assert torch.allclose(fisher_information(net, x, smoothing=0.1), expected, rtol=1e-6)


def test_per_image_gradients_match_autograd(data):
    # The hooks' Jacobian against one backward per image and class.
    net = seeded_build(lambda: NB201.build(MIXED, SPEC), 0, init=kaiming_fan_in_init).eval()
    x = data.train_x[:3]
    mine = fisher_information(net, x)
    params = list(net.parameters())
    rows = []
    for n in range(len(x)):
        out = net(x[n:n + 1])[0]
        jac = torch.stack([torch.stack([g.reshape(-1)[0] for g in torch.autograd.grad(out[c], params, retain_graph=True)])
                           for c in range(len(out))]).double()
        p = torch.softmax(out.detach().double(), 0) * 0.95 + 0.05 / len(out)
        rows.append(jac.T @ (torch.diag(p) - torch.outer(p, p)) @ jac)
    assert torch.allclose(mine, torch.stack(rows).mean(0), rtol=1e-4, atol=1e-7)
    assert all(p.requires_grad for p in net.parameters())  # the weights are unfrozen again


def test_scores_darts_and_mobilenetv3_networks(data):
    genome = np.array([3, 0, 3, 1, 5, 1, 2, 0, 4, 2, 3, 1, 6, 3, 1, 0] * 2)
    assert math.isfinite(estimate(vkdnw(), DARTS.to_string(genome), data, space=DARTS))
    mobile = SPACES.create("mobilenetv3", width=0.25)
    arch = mobile.to_string(np.random.default_rng(0).integers(mobile.bounds[0], mobile.bounds[1] + 1))
    assert estimate(vkdnw(), arch, data, space=mobile) < DEGENERATE


@pytest.mark.parametrize("options, knob", [({"batch_size": 1}, "batch_size"), ({"smoothing": 1.0}, "smoothing"),
                                           ({"smoothing": -0.1}, "smoothing")])
def test_bad_knobs_are_rejected(options, knob):
    with pytest.raises(ValueError, match=knob):
        ESTIMATORS.create("vkdnw", **options)
