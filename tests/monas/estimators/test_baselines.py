import pytest
import torch

from monas.data import load_dataset, scoring_data
from monas.estimators import ESTIMATORS
from search_spaces import SPACES

SPACE = SPACES.create("nb201", channels=4, cells_per_stage=1)
CONVS = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"
MIXED = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
SKIPS = "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|"


@pytest.fixture(scope="module")
def data():
    return scoring_data(load_dataset("digits", None), 1, 1, seed=0)


def estimate(estimator, arch, data):
    spec = load_dataset("digits", None).spec
    return estimator.estimate(arch, lambda: SPACE.build(arch, spec), data, torch.device("cpu"))


@pytest.mark.parametrize("name", ["params", "macs"])
def test_asks_for_the_fewest_images_the_split_allows(name):
    estimator = ESTIMATORS.create(name, seed=0)
    assert (estimator.n_train, estimator.n_val) == (1, 1)


@pytest.mark.parametrize("name", ["params", "macs"])
def test_a_bigger_network_is_predicted_better(name, data):
    estimator = ESTIMATORS.create(name, seed=0)
    scores = [estimate(estimator, arch, data) for arch in (CONVS, MIXED, SKIPS)]
    assert scores[0] < scores[1] < scores[2] < 0


def test_the_estimates_are_the_negated_complexity_counts(data):
    from monas.complexity import count_complexity

    spec = load_dataset("digits", None).spec
    macs, params = count_complexity(SPACE.build(MIXED, spec), spec)
    assert estimate(ESTIMATORS.create("params", seed=0), MIXED, data) == -params
    assert estimate(ESTIMATORS.create("macs", seed=0), MIXED, data) == -macs


@pytest.mark.parametrize("name", ["params", "macs"])
def test_same_input_gives_the_same_estimate_and_leaves_the_global_generator_alone(name, data):
    torch.manual_seed(123)
    expected_next = torch.rand(1)
    torch.manual_seed(123)
    a = estimate(ESTIMATORS.create(name, seed=5), MIXED, data)
    b = estimate(ESTIMATORS.create(name, seed=5), MIXED, data)
    assert a == b
    assert torch.equal(torch.rand(1), expected_next)


def test_without_data_there_is_no_input_shape():
    from monas.estimators import EstimationError

    with pytest.raises(EstimationError, match="input shape"):
        estimate(ESTIMATORS.create("params", seed=0), MIXED, None)
