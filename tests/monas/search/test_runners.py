import functools
import json
import os
import signal
import sys
from pathlib import Path

import numpy as np
import pytest

from monas.cli.nsga import main
from monas.search.evaluation import Evaluation
from monas.search.runners import ClusterError, SerialRunner, make_runner, slurm_cluster
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


def dying_evaluate(marker: str, genome, generation):
    """Kills its worker process the first time it sees genome [1, 1]."""
    if genome[0] == 1 and not Path(marker).exists():
        Path(marker).touch()
        os.kill(os.getpid(), signal.SIGKILL)
    return fake_evaluate(genome, generation)


def test_a_dead_worker_is_replaced_and_its_task_rerun(tmp_path):
    marker = tmp_path / "killed"
    runner = make_runner(functools.partial(dying_evaluate, str(marker)), workers=2)
    try:
        jobs = [(np.array([i, 1]), 1) for i in range(4)]
        results = sorted(e.objectives["error"] for e in runner(jobs))
    finally:
        runner.close()
    assert marker.exists()  # a worker really died mid-evaluation
    assert results == [1.0, 2.0, 3.0, 4.0]


def test_slurm_settings_become_the_job_script():
    cluster = slurm_cluster({"cores": 4, "memory": "16GB", "processes": 1, "queue": "gpu", "walltime": "02:00:00",
                             "job_extra_directives": ["--gres=gpu:1"]})
    try:
        script = cluster.job_script()
    finally:
        cluster.close()
    assert "#SBATCH -p gpu" in script and "#SBATCH --gres=gpu:1" in script and "#SBATCH -t 02:00:00" in script
    assert "export MALLOC_MMAP_THRESHOLD_=33554432" in script  # before the worker starts


def read_environ(name: str, genome, generation):
    """An Evaluation whose error is the worker's value of environment variable ``name``."""
    return Evaluation("", [], {"error": float(os.environ.get(name, "nan"))}, 0.0, generation)


def test_local_workers_keep_glibc_from_page_faulting_every_tensor():
    runner = make_runner(functools.partial(read_environ, "MALLOC_MMAP_THRESHOLD_"), workers=2)
    try:
        (result,) = runner([(np.array([0]), 0)])
    finally:
        runner.close()
    assert result.objectives["error"] == 32 * 2**20


def test_an_unknown_slurm_setting_is_named():
    with pytest.raises(ValueError, match="bad SLURM cluster setting in --cluster-config: Got unexpected keyword argument 'gpus_per_node'"):
        slurm_cluster({"cores": 1, "memory": "1GB", "gpus_per_node": 2})


def test_gpu_workers_without_dask_cuda_are_refused_plainly(monkeypatch):
    monkeypatch.setitem(sys.modules, "dask_cuda", None)  # import fails as if not installed
    with pytest.raises(ClusterError, match="needs dask-cuda: pip install"):
        make_runner(lambda genome, generation: None, workers=2, gpus=1)
