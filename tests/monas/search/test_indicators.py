"""The front indicators against fronts computed by hand.

Known front (error, MACs): (0, 10), (1, 5), (2, 0) and the dominated (2, 10). Ideal
(0, 0), nadir (2, 10); normalised: (0, 1), (0.5, 0.5), (1, 0). Its hypervolume against
(1.1, 1.1), in strips along the first objective: 0.5 * 0.1 + 0.5 * 0.6 + 0.1 * 1.1 = 0.46.
"""
import numpy as np
import pytest

from monas.search.indicators import ReferenceFront, share_found

KNOWN = np.array([[0.0, 10.0], [1.0, 5.0], [2.0, 0.0], [2.0, 10.0]])


@pytest.fixture
def known():
    return ReferenceFront(KNOWN)


def test_normalisation_by_ideal_and_nadir(known):
    assert known.front.tolist() == [[0.0, 10.0], [1.0, 5.0], [2.0, 0.0]]
    assert known.ideal.tolist() == [0.0, 0.0] and known.nadir.tolist() == [2.0, 10.0]
    assert known.normalise([[1.0, 5.0], [4.0, 0.0]]).tolist() == [[0.5, 0.5], [2.0, 0.0]]
    assert known.hypervolume == pytest.approx(0.46)


def test_hypervolume_ratio(known):
    assert known.hypervolume_ratio(KNOWN) == pytest.approx(1.0)
    assert known.hypervolume_ratio([[1.0, 5.0]]) == pytest.approx(0.6 * 0.6 / 0.46)
    # (0.5, 0.5) and (1, 0.2): 0.5 * 0.6 + 0.1 * 0.9 = 0.39
    assert known.hypervolume_ratio([[1.0, 5.0], [2.0, 2.0]]) == pytest.approx(0.39 / 0.46)
    assert known.hypervolume_ratio([[3.0, 0.0]]) == 0.0  # beyond the reference point: adds nothing
    assert known.hypervolume_ratio(np.empty((0, 2))) == 0.0
    assert known.hypervolume_ratio([[-2.0, 0.0]]) > 1.0  # better than the known front


def test_igd_plus(known):
    assert known.igd_plus(KNOWN[:3]) == pytest.approx(0.0)
    # from (0, 1): (0.5, 0); from (0.5, 0.5): 0; from (1, 0): (0, 0.5)
    assert known.igd_plus([[1.0, 5.0]]) == pytest.approx(1 / 3)
    # only the objectives in which the set is worse count: (2, 0) lies 2 from (0, 1), 1.5 from (0.5, 0.5), 1 from (1, 0)
    assert known.igd_plus([[4.0, 0.0]]) == pytest.approx((2.0 + 1.5 + 1.0) / 3)
    assert known.igd_plus(np.empty((0, 2))) == float("inf")


def test_share_found():
    assert share_found(["a", "x", "a"], ["a", "b", "c", "d"]) == 0.25
    assert share_found([], ["a"]) == 0.0
    with pytest.raises(ValueError):
        share_found(["a"], [])


def test_one_point_front_and_bad_input():
    single = ReferenceFront([[1.0, 2.0], [3.0, 4.0]])
    assert single.front.tolist() == [[1.0, 2.0]] and single.hypervolume_ratio([[1.0, 2.0]]) == pytest.approx(1.0)
    with pytest.raises(ValueError):
        ReferenceFront(np.empty((0, 2)))
