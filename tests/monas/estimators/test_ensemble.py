import math
import pickle

import numpy as np
import pytest
import torch

from monas.cli.nsga import main
from monas.data import load_dataset, scoring_data
from monas.estimators import ESTIMATORS, EstimationError
from monas.registry import UnknownNameError
from tests.conftest import SMALL_RUN_ARGS
from tests.monas.estimators.cells import CONVS, NB201, NONES, SKIPS, estimate

CPU = torch.device("cpu")
SPEC = load_dataset("digits", None).spec


@pytest.fixture(scope="module")
def data():
    return scoring_data(load_dataset("digits", None), 128, 1, seed=0)


def prepared(data, **options):
    ensemble = ESTIMATORS.create("ensemble", seed=0, **options)
    ensemble.prepare(NB201, SPEC, data, CPU)
    return ensemble


def test_the_estimate_is_the_summed_log_share_of_the_reference_beaten(data):
    ensemble = prepared(data, members="params", reference=20)
    params = ESTIMATORS.create("params", seed=0)
    rng = np.random.default_rng(0)  # the reference sample prepare() draws
    reference = [NB201.canonical(rng.integers(NB201.bounds[0], NB201.bounds[1] + 1)) for _ in range(20)]
    theirs = np.array([estimate(params, a, data) for a in reference])
    mine = estimate(params, SKIPS, data)
    share = ((theirs > mine).sum() + 0.5 * (theirs == mine).sum() + 0.5) / 21
    assert estimate(ensemble, SKIPS, data) == pytest.approx(-math.log(share))


def test_ranks_a_network_that_wins_on_every_member_first(data):
    ensemble = prepared(data, reference=10)
    scores = {arch: estimate(ensemble, arch, data) for arch in (CONVS, SKIPS, NONES)}
    assert 0 < scores[CONVS] < scores[SKIPS] < scores[NONES] < ensemble.worst
    assert scores[CONVS] < 3 * math.log(2)  # beats most of the reference on all three members


def test_is_deterministic_and_survives_pickling_for_workers(data):
    ensemble = prepared(data, reference=8)
    copy = pickle.loads(pickle.dumps(ensemble))
    assert estimate(copy, CONVS, data) == estimate(ensemble, CONVS, data) == estimate(prepared(data, reference=8), CONVS, data)


def test_merges_the_members_data_needs():
    ensemble = ESTIMATORS.create("ensemble", seed=0, members="params,naswot")
    assert (ensemble.n_train, ensemble.n_val) == (128, 1)
    assert ensemble.knobs() == {"members": "params,naswot", "reference": 100, "seed": 0, "n_train": 128, "n_val": 1,
                                "worst": 2 * math.log(202) + 1}


def test_refuses_to_estimate_before_it_is_prepared(data):
    with pytest.raises(EstimationError, match="call prepare"):
        estimate(ESTIMATORS.create("ensemble", seed=0), CONVS, data)


@pytest.mark.parametrize("options, error", [
    ({"members": " , "}, "at least one member"),
    ({"members": "params,ensemble"}, "its own member"),
    ({"reference": 1}, "reference >= 2"),
])
def test_bad_options_are_refused(options, error):
    with pytest.raises(ValueError, match=error):
        ESTIMATORS.create("ensemble", seed=0, **options)


def test_an_unknown_member_is_named():
    with pytest.raises(UnknownNameError, match="unknown estimator 'no-such-proxy'"):
        ESTIMATORS.create("ensemble", seed=0, members="params,no-such-proxy")


def test_drives_a_search(tmp_path):
    args = [a for a in SMALL_RUN_ARGS if a not in ("n_train=300", "n_val=200", "-E")]
    out = tmp_path / "run"
    assert main([*args, "--estimator", "ensemble", "-E", "reference=4", "--out", str(out)]) == 0
    assert (out / "pareto.json").exists()


def test_weights_scale_each_members_log_share(data):
    plain = prepared(data, members="params,synflow", reference=10)
    weighted = prepared(data, members="params:2,synflow", reference=10)
    alone = prepared(data, members="params", reference=10)
    for arch in (CONVS, SKIPS):
        assert estimate(weighted, arch, data) == pytest.approx(estimate(plain, arch, data) + estimate(alone, arch, data))
    assert weighted.worst > plain.worst


@pytest.mark.parametrize("members", ["params:0,synflow", "params:-1", "params:nan", "params:inf", "params:a", "params:"])
def test_bad_weights_are_rejected(members):
    with pytest.raises(ValueError, match="weight"):
        ESTIMATORS.create("ensemble", members=members)


def test_the_default_members_and_weights_are_recorded():
    assert ESTIMATORS.create("ensemble").knobs()["members"] == "meco,macs:0.5,synflow-cells,epe-nas:0.5"
