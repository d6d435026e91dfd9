"""Objective lists and bounds: parsed, checked and described without torch."""
import pytest

from monas.search.objectives import (
    bound_violations,
    check_bounds,
    describe_bounds,
    measured_quantities,
    parse_bound,
    parse_objectives,
    within_bounds,
)


@pytest.mark.parametrize("text", ["error,macs", "error,params", "error,latency", "error,macs,params", "error,latency,macs",
                                  "error,macs,params,latency"])
def test_any_list_of_known_objectives_after_error(text):
    assert [o.name for o in parse_objectives(text)] == text.split(",")


@pytest.mark.parametrize("text, message", [
    ("error,flops", "unknown objectives 'error,flops': 'flops' is not one of"),
    ("macs,error", "give error followed by"),
    ("error", "give error followed by"),
    ("error,macs,macs", "each once"),
    ("", "unknown objectives"),
])
def test_bad_objective_lists(text, message):
    with pytest.raises(ValueError, match=message):
        parse_objectives(text)


@pytest.mark.parametrize("name, text, value", [
    ("macs", "600M", 600_000_000), ("macs", "600m", 600_000_000), ("params", "3.5M", 3_500_000), ("params", "20k", 20_000),
    ("macs", "1.5G", 1_500_000_000), ("macs", "1e6", 1_000_000), ("params", "0.5", 0.5), ("latency", "12.5", 12.5),
    ("latency", "3", 3.0),
])
def test_bounds_with_suffixes(name, text, value):
    bound = parse_bound(name, text)
    assert bound == value and type(bound) is type(value)


@pytest.mark.parametrize("name, text", [
    ("macs", "-1"), ("macs", "0"), ("macs", "0M"), ("params", "abc"), ("params", "M"), ("macs", "nan"), ("macs", "infG"),
    ("latency", "5M"), ("latency", "-2"), ("latency", ""),
])
def test_bad_bounds(name, text):
    with pytest.raises(ValueError, match=f"--max-{name} must be a positive number"):
        parse_bound(name, text)


@pytest.mark.parametrize("bounds, message", [
    ({"flops": 5}, "unknown bound 'flops'"), ({"macs": -1}, "--max-macs must be a positive number"),
    ({"latency": float("inf")}, "--max-latency"), ({"params": True}, "--max-params"), ({"macs": "600M"}, "--max-macs"),
])
def test_recorded_bounds_are_checked(bounds, message):
    with pytest.raises(ValueError, match=message):
        check_bounds(bounds)


def test_violations_feasibility_and_description():
    values = {"error": 5.0, "macs": 500, "params": 30, "latency": 2.0}
    assert bound_violations(values, {"macs": 400, "latency": 4.0}) == [0.25, -0.5]
    assert not within_bounds(values, {"macs": 400}) and within_bounds(values, {"macs": 500, "params": 30})
    assert within_bounds(values, {})
    assert describe_bounds({"macs": 600_000_000, "params": 3_500_000, "latency": 5.0}) == \
        "--max-macs 600M, --max-params 3.5M, --max-latency 5 ms"


def test_a_bounded_quantity_is_measured_even_when_not_minimised():
    assert measured_quantities("error,macs", {"latency": 5.0, "params": 10}) == ["error", "macs", "params", "latency"]
    assert measured_quantities("error,latency", {"latency": 5.0}) == ["error", "latency"]
