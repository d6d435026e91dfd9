import json

import pytest

from monas.search.picks import Pick, PickError, choose, evenly_spaced, knee_index, read_front, table
from monas.search.record import RunDirError


def front(points):
    """Members from (error %, MACs in millions), in MACs order as pareto.json lists them."""
    return [Pick(i, f"arch{i}", {"error": e, "macs": m * 1e6, "params": m * 1e4}, 1) for i, (e, m) in enumerate(points)]


def test_knee_is_farthest_below_the_chord():
    members = front([(40, 1), (20, 2), (15, 5), (12, 10)])
    assert knee_index(members) == 1
    assert choose(members, "knee") == [members[1]]


def test_knee_of_a_straight_front_goes_to_the_member_nearest_the_ideal_point():
    assert knee_index(front([(30, 1), (20, 2), (10, 3)])) == 1
    assert knee_index(front([(30, 1)])) == 0


def test_even_spacing_picks_distinct_members_nearest_evenly_spaced_macs():
    members = front([(50, 1), (40, 1.2), (30, 4), (25, 6), (20, 9), (10, 10)])
    assert sorted(evenly_spaced(members, 3)) == [0, 3, 5]  # targets 1, 5.5, 10
    assert [p.index for p in choose(members, "even:2")] == [0, 5]
    assert len(choose(members, "even:6")) == 6


@pytest.mark.parametrize("spec, indices", [("all", [0, 1, 2]), ("index:2,0", [0, 2]), ("1", [1]), ("0,0", [0])])
def test_index_and_all(spec, indices):
    assert [p.index for p in choose(front([(30, 1), (20, 2), (10, 3)]), spec)] == indices


@pytest.mark.parametrize("spec, message", [
    ("even:4", "front has 3"), ("even:x", "whole number"), ("index:7", "member 7 does not exist"), ("best", "unknown pick"),
])
def test_bad_specs_are_refused_with_a_reason(spec, message):
    with pytest.raises(PickError, match=message):
        choose(front([(30, 1), (20, 2), (10, 3)]), spec)


def test_table_lists_objectives_and_architectures():
    text = table(front([(30, 1), (20.5, 2.25)]))
    lines = text.splitlines()
    assert lines[0].split() == ["member", "error", "%", "MACs", "(M)", "params", "(M)", "generation"]
    assert lines[2].split() == ["1", "20.50", "2.25", "0.022", "1"]
    assert lines[-1] == "member 1: arch1"


def test_read_front_of_a_search_run(small_run):
    members, config = read_front(small_run)
    pareto = json.loads((small_run / "pareto.json").read_text())
    assert [m.arch for m in members] == [m["arch"] for m in pareto["members"]]
    assert config["space"] == "darts"
    with pytest.raises(RunDirError, match="only nb201"):
        read_front(small_run, space="nb201")


def test_read_front_refuses_a_folder_without_a_run(tmp_path):
    with pytest.raises(RunDirError, match="no monas run"):
        read_front(tmp_path)
