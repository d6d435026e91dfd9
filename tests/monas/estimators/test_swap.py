import math

import numpy as np
import pytest
import torch
from torch import nn

from monas.data import load_dataset, scoring_data
from monas.estimators import ESTIMATORS
from monas.estimators.at_init import seeded_build
from monas.estimators.swap import DISCONNECTED, MAX_BATCH, gaussian_init, swap_score

from tests.monas.estimators.cells import CONVS, DARTS, MIXED, NB201, NONES, SKIPS, estimate


@pytest.fixture(scope="module")
def data():
    return scoring_data(load_dataset("digits", None), 20, 10, seed=0)


def test_counts_the_distinct_sample_wise_patterns_of_the_relu_units():
    # One ReLU over 3 images of 2 channels x 2 positions: 4 units, hand-made signs.
    x = torch.tensor([
        [[[1.0, -1.0]], [[2.0, 3.0]]],
        [[[1.0, -1.0]], [[-2.0, 3.0]]],
        [[[-1.0, -1.0]], [[2.0, 3.0]]],
    ])
    # units' patterns over the 3 images: (1,1,0), (0,0,0), (1,0,1), (1,1,1): all distinct
    count, logits = swap_score(nn.Sequential(nn.ReLU()), x)
    assert count == 4 and logits.shape == x.shape
    x[:, 1, 0, 1] = x[:, 0, 0, 0]  # the fourth unit now repeats the first one's pattern
    assert swap_score(nn.Sequential(nn.ReLU()), x)[0] == 3
    # The same patterns at two ReLUs count once; a ReLU on a 2-D input is not read.
    assert swap_score(nn.Sequential(nn.ReLU(), nn.ReLU()), x)[0] == 3
    assert swap_score(nn.Sequential(nn.Flatten(), nn.ReLU()), x)[0] == 0


def test_agrees_with_unique_rows_of_the_pattern_matrix():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Conv2d(8, 8, 3), nn.ReLU())
    images = torch.randn(10, 3, 8, 8)
    rows = []
    net[1].register_forward_hook(lambda m, i, o: rows.append(o.reshape(10, -1)))
    net[3].register_forward_hook(lambda m, i, o: rows.append(o.reshape(10, -1)))
    count, _ = swap_score(net, images)
    patterns = (torch.cat(rows, 1) > 0).T.numpy()
    assert count == len(np.unique(patterns, axis=0))


def test_gaussian_init_draws_standard_normal_weights():
    torch.manual_seed(0)
    net = gaussian_init(nn.Sequential(nn.Conv2d(16, 64, 3), nn.BatchNorm2d(64), nn.Linear(4, 4)))
    assert net[0].weight.std().item() == pytest.approx(1.0, abs=0.02)
    assert not net[0].bias.detach().any()
    assert torch.equal(net[1].weight, torch.ones(64)) and torch.equal(net[1].bias, torch.zeros(64))


def test_deterministic_for_a_seed_and_convolutions_beat_skips(data):
    a = estimate(ESTIMATORS.create("swap", seed=2), MIXED, data)
    assert a == estimate(ESTIMATORS.create("swap", seed=2), MIXED, data)
    assert math.isfinite(a) and a < 0
    convs, skips = (estimate(ESTIMATORS.create("swap", seed=0), arch, data) for arch in (CONVS, SKIPS))
    assert convs < skips < 0
    assert estimate(ESTIMATORS.create("swap", seed=0), NONES, data) == DISCONNECTED


def test_repeats_average_over_initialisations_on_the_same_images(data):
    estimator = ESTIMATORS.create("swap", repeats=2, seed=0)
    images, _ = estimator.minibatch(data)
    net = NB201.build(MIXED, load_dataset("digits", None).spec).train()
    counts = [swap_score(seeded_build(lambda: net, s, gaussian_init), images)[0] for s in (0, 1)]
    assert counts[0] != counts[1]
    assert estimate(estimator, MIXED, data) == -sum(counts) / 2
    assert estimate(ESTIMATORS.create("swap", seed=0), MIXED, data) == -counts[0]


def test_scores_darts_networks(data):
    genome = np.array([3, 0, 3, 1, 5, 1, 2, 0, 4, 2, 3, 1, 6, 3, 1, 0] * 2)
    value = estimate(ESTIMATORS.create("swap", seed=0), DARTS.to_string(genome), data, space=DARTS)
    assert math.isfinite(value) and value < 0


@pytest.mark.parametrize("options, match", [({"batch_size": 1}, "batch_size"), ({"batch_size": MAX_BATCH + 1}, "batch_size"),
                                            ({"repeats": 0}, "repeats")])
def test_bad_options_are_rejected(options, match):
    with pytest.raises(ValueError, match=match):
        ESTIMATORS.create("swap", **options)
