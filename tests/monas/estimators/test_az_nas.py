import math

import numpy as np
import pytest
import torch
from torch import nn

from monas.data import load_dataset, scoring_data
from monas.estimators import ESTIMATORS
from monas.estimators import az_nas
from monas.estimators.az_nas import DEGENERATE, az_nas_scores, block_trainability, spectral_entropy
from search_spaces import SPACES

from tests.monas.estimators.cells import CONVS, DARTS, MIXED, NB201, NONES, SKIPS, estimate

PROXIES = ("az-expressivity", "az-progressivity", "az-trainability")
# Node 2 receives nothing, so node 3 (the output) is cut off from the input; CONNECTED
# differs by one edge that joins them again.
DISCONNECTED = "|nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|nor_conv_3x3~2|"
CONNECTED = "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|none~0|none~1|nor_conv_3x3~2|"


@pytest.fixture(scope="module")
def data():
    return scoring_data(load_dataset("digits", None), 100, 1, seed=0)


@pytest.mark.parametrize("name", PROXIES)
def test_same_seed_gives_the_same_estimate_and_the_seed_matters(data, name):
    a = estimate(ESTIMATORS.create(name, batch_size=32, seed=3), MIXED, data)
    az_nas._MEMO.clear()  # computed afresh, not read from the memo
    b = estimate(ESTIMATORS.create(name, batch_size=32, seed=3), MIXED, data)
    others = {estimate(ESTIMATORS.create(name, batch_size=32, seed=s), MIXED, data) for s in range(3)}
    assert a == b and math.isfinite(a)
    assert len(others) == 3


@pytest.mark.parametrize("name", PROXIES)
def test_networks_without_signal_are_degenerate_and_others_finite(data, name):
    estimator = ESTIMATORS.create(name, batch_size=32, seed=0)
    for arch in (CONVS, MIXED, CONNECTED):
        assert math.isfinite(estimate(estimator, arch, data)) and estimate(estimator, arch, data) < DEGENERATE
    assert estimate(estimator, NONES, data) == DEGENERATE
    assert estimate(estimator, DISCONNECTED, data) == DEGENERATE
    assert DEGENERATE < estimator.worst


def test_convolutions_are_more_expressive_than_skips(data):
    estimator = ESTIMATORS.create("az-expressivity", batch_size=32, seed=0)
    assert estimate(estimator, CONVS, data) < estimate(estimator, SKIPS, data) < 0


def test_expressivity_is_the_entropy_of_the_covariance_spectrum():
    # Four samples (pixels) of two channels: covariance diag(0.5, 2), spectrum shares 0.2, 0.8.
    feature = torch.tensor([[1.0, 0.0], [-1.0, 0.0], [0.0, 2.0], [0.0, -2.0]]).reshape(4, 2, 1, 1)
    expected = -(0.2 * math.log(0.2 + 1e-8) + 0.8 * math.log(0.8 + 1e-8))
    assert spectral_entropy(feature).item() == pytest.approx(expected, rel=1e-12)
    # Every pixel of every image is a sample: the same values spread over a 2x2 map.
    assert spectral_entropy(feature.reshape(1, 4, 2).permute(0, 2, 1).reshape(1, 2, 2, 2)).item() == pytest.approx(expected)
    assert math.isnan(spectral_entropy(torch.zeros(3, 2, 2, 2)).item())


class Scaling(nn.Module):
    """Maps x, s*x, s*t*x: two one-channel blocks with known gradients."""

    def __init__(self, s: float, t: float) -> None:
        super().__init__()
        self.stem = nn.Conv2d(1, 1, 1, bias=False)
        self.s, self.t = s, t

    def forward_blocks(self, x):
        maps = [self.stem(x)]
        maps.append(self.s * maps[-1])
        maps.append(self.t * maps[-1])
        return maps


def test_trainability_is_the_mean_block_score_of_the_gradient_gain():
    # One channel: g_in = s g_out for a Rademacher g_out, so g_in^T g_out / pixels = s;
    # the blocks multiply by 2 and by 0.5.
    net = Scaling(2.0, 0.5)
    x = torch.randn(3, 1, 4, 4)
    scores = az_nas_scores(net, x, seed=0)
    block = lambda sigma: 2 - sigma - 1 / (sigma + 1e-6)  # noqa: E731
    assert scores.trainability == pytest.approx((block(2.0) + block(0.5)) / 2, rel=1e-9)
    # Scaling keeps the spectrum (a single channel: entropy 0), so nothing progresses.
    assert scores.expressivity == pytest.approx(0.0, abs=1e-7) and scores.progressivity == pytest.approx(0.0, abs=1e-7)
    # A block that passes the gradient unchanged scores -inf, as in the reference.
    h = net.stem(x)
    assert block_trainability(h, 1.0 * h, torch.Generator().manual_seed(0)) == -math.inf


def test_downsampling_blocks_are_unshuffled_to_the_output_size():
    x = torch.randn(2, 1, 4, 4, requires_grad=True)
    y = nn.functional.avg_pool2d(x, 2)  # g_in = g_out / 4 on each of the 4 pixels of a window
    # Unshuffled, g_in has 4 channels, each g_out / 4: the cross-covariance is a column of 1/4.
    sigma = math.sqrt(4 * (1 / 4) ** 2)
    assert block_trainability(x, y, torch.Generator().manual_seed(1)) == pytest.approx(2 - sigma - 1 / (sigma + 1e-6))


def test_the_three_proxies_share_one_pass(data, monkeypatch):
    calls = []
    monkeypatch.setattr(az_nas, "az_nas_scores", lambda *a: calls.append(1) or az_nas.AZScores(1.0, 2.0, 3.0))
    az_nas._MEMO.clear()
    values = [estimate(ESTIMATORS.create(name, batch_size=32, seed=5), CONVS, data) for name in PROXIES]
    assert values == [-1.0, -2.0, -3.0] and len(calls) == 1
    estimate(ESTIMATORS.create("az-trainability", batch_size=16, seed=5), CONVS, data)  # other images
    estimate(ESTIMATORS.create("az-trainability", batch_size=32, seed=6), CONVS, data)  # other weights
    assert len(calls) == 3
    az_nas._MEMO.clear()


def test_the_ensemble_of_the_four_ranks_convolutions_first(data):
    spec = load_dataset("digits", None).spec
    ensemble = ESTIMATORS.create("ensemble", seed=0, reference=6, members="az-expressivity,az-progressivity,az-trainability,macs")
    ensemble.prepare(NB201, spec, data, torch.device("cpu"))
    assert estimate(ensemble, CONVS, data) < estimate(ensemble, NONES, data)


@pytest.mark.parametrize("name", PROXIES)
def test_scores_darts_and_mobilenetv3_networks(data, name):
    estimator = ESTIMATORS.create(name, batch_size=16, seed=0)
    genome = np.array([3, 0, 3, 1, 5, 1, 2, 0, 4, 2, 3, 1, 6, 3, 1, 0] * 2)
    assert math.isfinite(estimate(estimator, DARTS.to_string(genome), data, space=DARTS))
    mobile = SPACES.create("mobilenetv3", width=0.25)
    arch = mobile.to_string(np.random.default_rng(0).integers(mobile.bounds[0], mobile.bounds[1] + 1))
    assert estimate(estimator, arch, data, space=mobile) < DEGENERATE


def test_scores_seeded_noise_by_default_and_images_when_asked(data):
    noise = ESTIMATORS.create("az-expressivity", batch_size=32, seed=2)
    inputs = noise.scoring_inputs(data)
    images, _ = noise.minibatch(data)
    assert noise.inputs == "noise" and inputs.shape == images.shape and not torch.equal(inputs, images)
    assert torch.equal(inputs, noise.scoring_inputs(data)) and abs(inputs.std().item() - 1) < 0.05
    on_images = ESTIMATORS.create("az-expressivity", batch_size=32, seed=2, inputs="images")
    assert torch.equal(on_images.scoring_inputs(data), images)
    assert estimate(noise, MIXED, data) != estimate(on_images, MIXED, data)


@pytest.mark.parametrize("name", PROXIES)
def test_bad_inputs_are_rejected(name):
    with pytest.raises(ValueError, match="noise or images"):
        ESTIMATORS.create(name, inputs="pixels")


@pytest.mark.parametrize("name", PROXIES)
def test_bad_batch_size_is_rejected(name):
    with pytest.raises(ValueError, match="batch_size"):
        ESTIMATORS.create(name, batch_size=1)


def test_a_block_that_ignores_its_input_has_the_worst_trainability():
    f_in = torch.randn(2, 3, 4, 4, requires_grad=True)
    other = torch.randn(2, 3, 4, 4, requires_grad=True)
    f_out = other * 2  # does not read f_in
    assert block_trainability(f_in, f_out, torch.Generator().manual_seed(0)) == pytest.approx(2.0 - 1.0 / 1e-6)
