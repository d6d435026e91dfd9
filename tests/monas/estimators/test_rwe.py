import numpy as np
import pytest
import torch

from monas.data import load_dataset, scoring_data
from monas.estimators import ESTIMATORS
from search_spaces import SPACES

SPACE = SPACES.create("darts", init_channels=8, layers=3)
GENOME = np.array([3, 0, 3, 1, 5, 1, 2, 0, 4, 2, 3, 1, 6, 3, 1, 0] * 2)


@pytest.fixture(scope="module")
def digits():
    images = load_dataset("digits", None)
    return images, scoring_data(images, 600, 300, seed=0)


def estimate(estimator, data, genome=GENOME, spec=None):
    arch = SPACE.to_string(genome)
    spec = spec or load_dataset("digits", None).spec
    return estimator.estimate(arch, lambda: SPACE.build(arch, spec), data, torch.device("cpu"))


def test_same_genome_seed_and_data_give_the_same_score(digits):
    _, data = digits
    a = estimate(ESTIMATORS.create("rwe", n_train=600, n_val=300, seed=3), data)
    b = estimate(ESTIMATORS.create("rwe", n_train=600, n_val=300, seed=3), data)
    assert a == b
    assert 0.0 <= a <= 100.0


def test_the_seed_changes_the_initialisation(digits):
    _, data = digits
    scores = {estimate(ESTIMATORS.create("rwe", n_train=600, n_val=300, seed=s), data) for s in range(4)}
    assert len(scores) > 1


@pytest.mark.parametrize("head", ["ridge", "logistic"])
def test_tells_real_labels_from_random_labels(digits, head):
    images, data = digits
    rwe = ESTIMATORS.create("rwe", n_train=600, n_val=300, head=head)
    real = estimate(rwe, data)
    shuffled = torch.from_numpy(np.random.default_rng(0).permutation(data.train_y.numpy()))
    random_labels = type(data)(data.train_x, shuffled, data.val_x, data.val_y, data.num_classes)
    chance = estimate(rwe, random_labels)
    assert real < 25.0  # 10 balanced classes: chance is 90 % error
    assert chance > 75.0


def test_averaging_initialisations_averages_errors(digits):
    _, data = digits
    singles = [estimate(ESTIMATORS.create("rwe", n_train=600, n_val=300, seed=s), data) for s in (0, 1)]
    mean = estimate(ESTIMATORS.create("rwe", n_train=600, n_val=300, n_inits=2, seed=0), data)
    assert mean == pytest.approx(sum(singles) / 2)


@pytest.mark.parametrize("features", ["stages", "stages_mean_std", "final"])
@pytest.mark.parametrize("bn", ["eval", "batch"])
def test_every_form_scores_and_stays_deterministic(digits, bn, features):
    _, data = digits
    rwe = ESTIMATORS.create("rwe", n_train=600, n_val=300, bn=bn, features=features)
    assert estimate(rwe, data) == estimate(rwe, data) < 60.0


def test_stage_features_concatenate_every_stage():
    net = SPACE.build(SPACE.to_string(GENOME), load_dataset("digits", None).spec).eval()
    x = torch.randn(4, 1, 16, 16)
    widths = [m.shape[1] for m in net.forward_stages(x)]
    assert ESTIMATORS.create("rwe", features="stages").extract(net, x).shape == (4, sum(widths))
    assert ESTIMATORS.create("rwe", features="final").extract(net, x).shape == (4, net.num_features)


def test_mean_std_features_add_each_stages_deviation_to_its_means():
    net = SPACE.build(SPACE.to_string(GENOME), load_dataset("digits", None).spec).eval()
    x = torch.randn(4, 1, 16, 16, generator=torch.Generator().manual_seed(0))
    means = ESTIMATORS.create("rwe", features="stages").extract(net, x)
    both = ESTIMATORS.create("rwe", features="stages_mean_std").extract(net, x)
    assert both.shape == (4, 2 * means.shape[1])
    torch.testing.assert_close(both[:, : means.shape[1]], means)
    maps = net.forward_stages(x)
    torch.testing.assert_close(both[:, means.shape[1] :], torch.cat([m.std((2, 3)) for m in maps], 1))
    assert (both[:, means.shape[1] :] > 0).all()


def test_rwe_plain_is_the_papers_form():
    plain = ESTIMATORS.create("rwe-plain")
    assert (plain.bn, plain.features) == ("batch", "final")
    assert (ESTIMATORS.create("rwe").bn, ESTIMATORS.create("rwe").features) == ("eval", "stages")


def test_bad_knobs_are_rejected():
    with pytest.raises(ValueError, match="unknown head"):
        ESTIMATORS.create("rwe", head="svm")
    with pytest.raises(ValueError, match="unknown bn mode"):
        ESTIMATORS.create("rwe", bn="frozen")
    with pytest.raises(ValueError, match="unknown features"):
        ESTIMATORS.create("rwe", features="all")
    with pytest.raises(ValueError, match="n_inits"):
        ESTIMATORS.create("rwe", n_inits=0)
