"""transfer_imagenet on the Tiny-ImageNet subset: a few steps in one process, under a
2-process torchrun (gloo), killed mid-epoch and resumed, and through submitit's local executor."""
import json
import os
import subprocess
import sys

import pytest
import torch

from monas.cli.transfer import main
from search_spaces.darts.genotypes import DARTS_V2
from tests.conftest import ROOT, shared_data
from tests.monas.cli.test_train import NB201

SMALL = ["--image-size", "32", "--init-channels", "8", "--layers", "3", "--batch-size", "16", "--train-limit", "128",
         "--val-limit", "64", "--loader-workers", "0", "--genotype", DARTS_V2]


def args(out, *extra):
    return ["--data-dir", str(shared_data("tiny-imagenet")), *SMALL, "--out", str(out), *extra]


def command(*argv):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, str(ROOT / "experiments" / "transfer_imagenet.py"), *argv],
                          capture_output=True, text=True, timeout=300, env=env, check=False)


def test_a_few_steps_report_top1_top5_params_and_macs(tmp_path, capsys):
    assert main(args(tmp_path, "--epochs", "1", "--max-steps", "3")) == 0
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["steps"] == 3 and 0 <= result["test_accuracy"] <= result["test_top5"] <= 100
    assert result["params"] > 0 and result["macs"] > 0 and result["image_size"] == 32
    assert "top-5" in capsys.readouterr().out


def test_two_process_torchrun_with_gloo(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         str(ROOT / "experiments" / "transfer_imagenet.py"), *args(tmp_path, "--epochs", "1", "--max-steps", "3")],
        capture_output=True, text=True, timeout=300, env=env, check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    state = torch.load(tmp_path / "checkpoint.pt", weights_only=False)
    assert state["world_size"] == 2 and len(state["rng"]) == 2 and state["progress"]["step"] == 3
    assert proc.stdout.count("top-1") == 2  # one evaluation line and the summary, from rank 0 only
    assert (tmp_path / "result.json").exists()


def test_killed_mid_epoch_resumes_from_the_same_step_with_the_same_optimizer_state(tmp_path):
    # 8 steps per epoch; checkpoints every 2 steps; SIGKILL right after step 5 (last checkpoint: step 4).
    run = ["--epochs", "2", "--max-steps", "10", "--checkpoint-every-steps", "2"]
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    assert command(*args(whole, *run)).returncode == 0
    proc = subprocess.run([sys.executable, str(ROOT / "experiments" / "transfer_imagenet.py"), *args(killed, *run)],
                          capture_output=True, text=True, timeout=300, check=False,
                          env={**os.environ, "OMP_NUM_THREADS": "1", "MONAS_KILL_AT_STEP": "5"})
    assert proc.returncode == -9
    assert torch.load(killed / "checkpoint.pt", weights_only=False)["progress"]["step"] == 4
    resumed = command(*args(killed, *run, "--resume"))
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    a, b = (torch.load(d / "checkpoint.pt", weights_only=False) for d in (whole, killed))
    assert a["progress"]["step"] == b["progress"]["step"] == 10
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), key
    momenta = [(s["momentum_buffer"], t["momentum_buffer"]) for s, t in
               zip(a["optimizer"]["state"].values(), b["optimizer"]["state"].values())]
    assert momenta and all(torch.equal(x, y) for x, y in momenta)
    strip = [[{k: v for k, v in row.items() if k != "train_seconds"} for row in s["progress"]["history"]] for s in (a, b)]
    assert strip[0] == strip[1]


def test_submitit_local_executor_runs_one_job_per_genotype(tmp_path):
    proc = command(*args(tmp_path, "--epochs", "1", "--max-steps", "2", "--submit", "local", "--gpus-per-node", "0",
                         "--cpus-per-task", "1", "--time", "5"))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "job" in proc.stdout and "top-5" in proc.stdout
    assert json.loads((tmp_path / "result.json").read_text())["steps"] == 2
    assert list((tmp_path / "submitit").glob("*_result.pkl"))


@pytest.mark.parametrize("extra, message", [
    ([], "--data-dir is required"),
    (["--data-dir", "/nonexistent", "--genotype", DARTS_V2], "has no train/ folder"),
    (["--data-dir", "DATA", "--genotype", DARTS_V2, "--image-size", "40"], "multiple of 32"),
    (["--data-dir", "DATA", "--genotype", DARTS_V2, "--batch-size", "1"], "batch_size must be at least 2"),
    (["--data-dir", "DATA", "--genotype", "Genotype(normal=["], "not a Genotype string"),
    (["--data-dir", "DATA", "--space", "nb201", "--arch", NB201], "the nb201 space has no ImageNet form"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, extra, message):
    for split in ("train", "val"):
        (tmp_path / "data" / split).mkdir(parents=True)
    extra = [str(tmp_path / "data") if a == "DATA" else a for a in extra]
    assert main([*extra, "--out", str(tmp_path / "out")]) == 2
    assert not (tmp_path / "out").exists()
    err = capsys.readouterr().err.strip()
    assert err.startswith("transfer_imagenet: error:") and message in err and "\n" not in err
