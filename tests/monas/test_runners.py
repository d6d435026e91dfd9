import json

import numpy as np

from monas.cli import main
from monas.evaluation import Evaluation
from monas.runners import SerialRunner, make_runner
from tests.conftest import SMALL_RUN_ARGS


def fake_evaluate(genome, generation):
    return Evaluation(str(list(genome)), list(genome), {"error": float(sum(genome)), "macs": 1.0, "params": 1.0}, 0.0, generation)


def test_one_worker_runs_in_this_process_in_order():
    runner = make_runner(fake_evaluate, workers=1)
    assert isinstance(runner, SerialRunner)
    jobs = [(np.array([i, 1]), 3) for i in range(4)]
    assert [e.objectives["error"] for e in runner(jobs)] == [1.0, 2.0, 3.0, 4.0]


def test_local_dask_cluster_gives_the_serial_result(small_run, tmp_path):
    out = tmp_path / "parallel"
    assert main([*SMALL_RUN_ARGS, "--workers", "2", "--out", str(out)]) == 0
    strip = lambda p: sorted(  # noqa: E731 - completion order differs, content must not
        json.dumps({k: v for k, v in json.loads(line).items() if k != "seconds"}, sort_keys=True)
        for line in p.read_text().splitlines()
    )
    assert strip(out / "archive.jsonl") == strip(small_run / "archive.jsonl")
    assert (out / "pareto.json").read_text() == (small_run / "pareto.json").read_text()
    assert json.loads((out / "config.json").read_text())["config"]["workers"] == 2
