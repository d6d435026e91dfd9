"""run_nsga with latency and with bounds: latency is measured and recorded where the
other objectives are; a bounded search returns only networks within its bounds (pymoo
constraints), says so when none is, records its bounds and keeps them on resume."""
import json

import pytest

from monas.cli.nsga import main
from tests.conftest import SMALL_RUN_ARGS

# Bounds that about half of this small search's networks break (their MACs span about
# 0.29M-0.59M, their parameters 6.5K-12K).
BOUNDS = ["--max-macs", "400K", "--max-params", "9K"]
ONE_GENERATION = [a if a != "2" else "1" for a in SMALL_RUN_ARGS]


def archive(out):
    return [json.loads(line) for line in (out / "archive.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def bounded_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "bounded"
    assert main([*SMALL_RUN_ARGS, *BOUNDS, "--out", str(out)]) == 0
    return out


@pytest.fixture
def quick_timing(monkeypatch):
    """Fewer timed repeats: these tests check that latency is recorded, not its value."""
    monkeypatch.setattr("monas.latency.MIN_RUN_S", 0.01)
    monkeypatch.setattr("monas.latency.MAX_RUN_S", 0.05)


def test_a_bounded_search_returns_only_networks_within_its_bounds(bounded_run):
    rows = archive(bounded_run)
    beyond = [r for r in rows if r["objectives"]["macs"] > 400_000 or r["objectives"]["params"] > 9_000]
    assert beyond and len(beyond) < len(rows)  # the bounds bite, and some networks meet them
    pareto = json.loads((bounded_run / "pareto.json").read_text())
    assert pareto["members"] and pareto["bounds"] == {"macs": 400_000, "params": 9_000} and "note" not in pareto
    for member in pareto["members"]:
        assert member["objectives"]["macs"] <= 400_000 and member["objectives"]["params"] <= 9_000
    assert json.loads((bounded_run / "config.json").read_text())["config"]["bounds"] == {"macs": 400_000, "params": 9_000}


def test_a_resumed_bounded_search_keeps_its_bounds_and_ends_as_an_uninterrupted_one(bounded_run, tmp_path, capsys):
    out = tmp_path / "resumed"
    assert main([*ONE_GENERATION, *BOUNDS, "--out", str(out)]) == 0
    assert main(["--resume", str(out), "--generations", "2", "--max-macs", "1G"]) == 2
    assert "drop --max-macs" in capsys.readouterr().err
    assert main(["--resume", str(out), "--generations", "2", "--no-progress"]) == 0
    assert (out / "pareto.json").read_text() == (bounded_run / "pareto.json").read_text()


def test_a_bound_no_network_meets_is_reported(tmp_path, capsys):
    out = tmp_path / "impossible"
    assert main([*ONE_GENERATION, "--max-params", "10", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert printed.rstrip().endswith("no evaluated network meets --max-params 10: pareto.json holds an empty front")
    pareto = json.loads((out / "pareto.json").read_text())
    assert pareto["members"] == [] and pareto["note"] == "no evaluated network meets --max-params 10"
    assert archive(out) and all(r["status"] == "ok" for r in archive(out))
    assert (out / "pareto.png").exists()


def test_latency_as_an_objective_is_recorded_and_positive(tmp_path, quick_timing):
    out = tmp_path / "latency"
    args = ["--pop-size", "4", "--objectives", "error,latency", "--latency-batch", "2"]
    assert main([*ONE_GENERATION, *args, "--out", str(out)]) == 0
    rows = archive(out)
    assert rows and all(r["objectives"]["latency"] > 0 for r in rows)
    pareto = json.loads((out / "pareto.json").read_text())
    assert pareto["objectives"] == ["error", "latency"] and pareto["units"]["latency"] == "ms"
    assert pareto["members"] and all(m["objectives"]["latency"] > 0 for m in pareto["members"])
    config = json.loads((out / "config.json").read_text())
    assert config["config"]["latency_device"] == "auto" and config["config"]["latency_batch"] == 2
    assert config["hypervolume_scale"]["latency"] > 0


def test_a_latency_bound_measures_latency_though_it_is_not_minimised(small_run, tmp_path, quick_timing):
    out = tmp_path / "latency-bound"
    assert main([*SMALL_RUN_ARGS, "--max-latency", "100000", "--latency-device", "cpu", "--out", str(out)]) == 0
    rows = archive(out)
    assert all(r["objectives"]["latency"] > 0 for r in rows)
    pareto = json.loads((out / "pareto.json").read_text())
    assert pareto["objectives"] == ["error", "macs"] and pareto["bounds"] == {"latency": 100000.0}
    # a bound every network meets, and timing them, change nothing else of the search
    without_latency = [{**r, "objectives": {k: v for k, v in r["objectives"].items() if k != "latency"}} for r in rows]
    strip = lambda rows: [{k: v for k, v in r.items() if k != "seconds"} for r in rows]
    assert strip(without_latency) == strip(archive(small_run))
