import math

import numpy as np
import pytest
import torch

from monas.data import load_dataset, scoring_data
from monas.estimators import ESTIMATORS
from monas.estimators.meco import DISCONNECTED, meco_score

from tests.monas.estimators.cells import CONVS, DARTS, MIXED, NONES, SKIPS, estimate

CUT = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|none~0|none~1|none~2|"


@pytest.fixture(scope="module")
def data():
    return scoring_data(load_dataset("digits", None), 20, 10, seed=0)


def test_asks_for_two_images():
    estimator = ESTIMATORS.create("meco", seed=0)
    assert (estimator.n_train, estimator.n_val) == (2, 1)


def test_same_seed_gives_the_same_score_and_the_seed_matters(data):
    a = estimate(ESTIMATORS.create("meco", seed=3), MIXED, data)
    b = estimate(ESTIMATORS.create("meco", seed=3), MIXED, data)
    others = {estimate(ESTIMATORS.create("meco", seed=s), MIXED, data) for s in range(3)}
    assert a == b
    assert math.isfinite(a) and a < 0
    assert len(others) > 1


def test_convolutions_score_better_than_skips_and_disconnected_networks_worst(data):
    estimator = ESTIMATORS.create("meco", seed=0)
    convs, mixed, skips = (estimate(estimator, arch, data) for arch in (CONVS, MIXED, SKIPS))
    assert convs < mixed < skips < 0
    assert estimate(estimator, NONES, data) == DISCONNECTED
    assert estimate(estimator, CUT, data) == DISCONNECTED < estimator.worst


def test_the_score_is_the_minimum_eigenvalue_of_the_channel_correlation():
    # One identity module over two channels of one image: corr = [[1, r], [r, 1]],
    # minimum eigenvalue 1 - |r|; the network itself (also an identity) counts again.
    image = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]], [[1.0, 0.0], [2.0, 0.0]]]])
    r = float(np.corrcoef(image[0, 0].flatten().numpy(), image[0, 1].flatten().numpy())[0, 1])
    net = torch.nn.Sequential(torch.nn.Identity())
    assert meco_score(net, image) == pytest.approx(2 * (1 - abs(r)), rel=1e-12)
    # A constant channel's correlations are undefined, set to 0: corr = [[1, 0], [0, 0]].
    flat = image.clone()
    flat[0, 1] = 5.0
    assert meco_score(net, flat) == pytest.approx(0.0, abs=1e-12)


def test_meco_opt_samples_channels_and_scales_by_their_share(data):
    # With as many sampled channels as there are, MeCo_opt is MeCo; with fewer it differs.
    full = estimate(ESTIMATORS.create("meco", seed=0), MIXED, data)
    assert estimate(ESTIMATORS.create("meco", channels=64, seed=0), MIXED, data) == full
    opt = estimate(ESTIMATORS.create("meco", channels=2, seed=0), MIXED, data)
    assert math.isfinite(opt) and opt != full


def test_scores_darts_networks(data):
    genome = np.array([3, 0, 3, 1, 5, 1, 2, 0, 4, 2, 3, 1, 6, 3, 1, 0] * 2)
    value = estimate(ESTIMATORS.create("meco", seed=0), DARTS.to_string(genome), data, space=DARTS)
    assert math.isfinite(value) and value < 0


@pytest.mark.parametrize("channels", [-1, 1])
def test_bad_channels_are_rejected(channels):
    with pytest.raises(ValueError, match="channels"):
        ESTIMATORS.create("meco", channels=channels)
