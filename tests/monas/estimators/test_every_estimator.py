"""Properties every registered estimator must have, checked on all of them at once: a
finite estimate for every kind of NAS-Bench-201 cell, the disconnected ones ranked no
better than a connected network, and the same value for the same seed."""
import math

import pytest
import torch

from monas.data import load_dataset, scoring_data
from monas.estimators import ESTIMATORS
from tests.monas.estimators.cells import CONVS, MIXED, NB201, NONES, SKIPS, estimate

# A cell whose output node reads only node 1, which reads only a `none` edge: the
# output is cut off from the input although most edges are convolutions.
CUT = "|none~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|none~0|nor_conv_3x3~1|none~2|"
# Estimators that need something a unit test does not have: a benchmark table, or training.
NEEDS_MORE = {"table", "train"}
SMALL = {"rwe": {"n_train": 100, "n_val": 50}, "rwe-plain": {"n_train": 100, "n_val": 50}, "ensemble": {"reference": 6}}
NAMES = [n for n in ESTIMATORS.names() if n not in NEEDS_MORE]


@pytest.fixture(scope="module")
def images():
    return load_dataset("digits", None)


def created(name: str, images, seed: int = 0):
    estimator = ESTIMATORS.create(name, seed=seed, **SMALL.get(name, {}))
    data = scoring_data(images, estimator.n_train, estimator.n_val, seed=0) if estimator.n_train else None
    estimator.prepare(NB201, images.spec, data, torch.device("cpu"))
    return estimator, data


@pytest.mark.parametrize("name", NAMES)
def test_finite_on_every_kind_of_cell_and_disconnected_cells_rank_last(name, images):
    estimator, data = created(name, images)
    values = {arch: estimate(estimator, arch, data) for arch in (CONVS, MIXED, SKIPS, NONES, CUT)}
    assert all(math.isfinite(v) for v in values.values()), values
    assert all(v <= estimator.worst for v in values.values())
    if name not in ("params", "macs"):  # capacity counts ignore connectivity by definition
        assert values[NONES] >= values[CONVS] and values[CUT] >= values[CONVS], values


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_same_estimate(name, images):
    first, data = created(name, images, seed=3)
    second, _ = created(name, images, seed=3)
    assert estimate(first, MIXED, data) == estimate(second, MIXED, data)
