import math
import pickle

import pytest
import torch

from monas.data import load_dataset, scoring_data
from monas.estimators import ESTIMATORS, EstimationError
from monas.estimators.synflow import ZERO_FLOW, synflow_score
from tests.monas.estimators.cells import CONVS, DARTS, MIXED, NB201, NONES, SKIPS, estimate

CPU = torch.device("cpu")
SPEC = load_dataset("digits", None).spec
GENOTYPE = ("Genotype(normal=[('sep_conv_3x3', 0), ('skip_connect', 1), ('max_pool_3x3', 0), ('sep_conv_3x3', 2), "
            "('dil_conv_3x3', 1), ('skip_connect', 2), ('avg_pool_3x3', 0), ('sep_conv_5x5', 3)], normal_concat=[2, 3, 4, 5], "
            "reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), "
            "('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), ('avg_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])")


@pytest.fixture(scope="module")
def data():
    return scoring_data(load_dataset("digits", None), 1, 1, seed=0)


def prepared(space, data, seed=0):
    estimator = ESTIMATORS.create("synflow-cells", seed=seed)
    estimator.prepare(space, SPEC, data, CPU)
    return estimator


def test_the_estimate_is_minus_the_mean_log_synflow_of_the_darts_probes(data):
    scores = []
    for probe in DARTS.cell_probes(GENOTYPE, SPEC):
        torch.manual_seed(2)  # synflow builds each network after seeding torch with its seed
        scores.append(synflow_score(probe(), tuple(data.train_x.shape[1:]), CPU))
    expected = -(math.log(scores[0]) + math.log(scores[1])) / 2
    assert estimate(prepared(DARTS, data, seed=2), GENOTYPE, data, DARTS) == pytest.approx(expected, rel=1e-12)


def test_scores_the_cell_not_the_network(data):
    # The same cell in networks of other sizes has the same estimate: only the cell is built.
    other = type(NB201)(channels=8, cells_per_stage=2)
    assert estimate(prepared(NB201, data), MIXED, data) == estimate(prepared(other, data), MIXED, data, other)


def test_more_convolutions_rank_better_and_a_cell_of_none_edges_ranks_last(data):
    estimator = prepared(NB201, data)
    convs, mixed, skips, none = (estimate(estimator, arch, data) for arch in (CONVS, MIXED, SKIPS, NONES))
    assert convs < mixed < skips < none == ZERO_FLOW < estimator.worst


def test_refuses_to_estimate_before_it_is_prepared(data):
    with pytest.raises(EstimationError, match="prepare"):
        estimate(ESTIMATORS.create("synflow-cells"), MIXED, data)


def test_survives_pickling_for_workers(data):
    estimator = prepared(DARTS, data)
    copy = pickle.loads(pickle.dumps(estimator))
    assert estimate(copy, GENOTYPE, data, DARTS) == estimate(estimator, GENOTYPE, data, DARTS)


def test_an_ensemble_prepares_its_members(data):
    ensemble = ESTIMATORS.create("ensemble", members="synflow-cells", reference=6)
    ensemble.prepare(NB201, SPEC, data, CPU)
    assert estimate(ensemble, CONVS, data) < estimate(ensemble, NONES, data)
