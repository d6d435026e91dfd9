"""From a mobilenetv3 search to ImageNet: a tiny search on digits, then ``train_cifar``
and ``transfer_imagenet`` (under a 2-process torchrun, on the Tiny-ImageNet subset)
on its knee member, each killed right after a step that follows a checkpoint and
resumed from it."""
import json
import os
import subprocess
import sys

import pytest
import torch

from monas.cli.nsga import main as search
from monas.cli.train import main as train_cifar
from monas.complexity import count_complexity
from monas.search.picks import choose, read_front
from search_spaces import SPACES
from search_spaces.base import InputSpec
from tests.conftest import ROOT, shared_data

SEARCH = ["--space", "mobilenetv3", "-S", "width=0.25", "--dataset", "digits", "--estimator", "rwe", "-E", "n_train=300",
          "-E", "n_val=200", "--pop-size", "4", "--generations", "1", "--seed", "0", "--no-progress"]
# 4 steps per epoch (per process), a checkpoint every 2 steps, killed after step 3, 6 steps in all.
STEPS = ["--batch-size", "8", "--epochs", "2", "--max-steps", "6", "--checkpoint-every-steps", "2", "--loader-workers",
         "0", "--eval-batch-size", "32", "--net", "width=0.25", "--device", "cpu"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("mobilenetv3") / "search"
    assert search([*SEARCH, "--out", str(out)]) == 0
    return out


def launch(script: str, argv: list[str], processes: int = 1, kill_at: int | None = None):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    if kill_at is not None:
        env["MONAS_KILL_AT_STEP"] = str(kill_at)
    launcher = [sys.executable] if processes == 1 else [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(processes)]
    return subprocess.run([*launcher, str(ROOT / "experiments" / script), *argv], capture_output=True, text=True,
                          timeout=300, env=env, check=False)


def step_of(folder) -> int:
    return torch.load(folder / "checkpoint.pt", weights_only=True)["progress"]["step"]


def test_train_cifar_trains_the_knee_member_and_resumes(run, tmp_path):
    out = tmp_path / "train"
    argv = ["--run", str(run), "--pick", "knee", "--dataset", "digits", "--train-limit", "32", "--test-limit", "32",
            *STEPS, "--out", str(out)]
    assert launch("train_cifar.py", argv, kill_at=3).returncode == -9
    assert step_of(out) == 2 and not (out / "result.json").exists()
    assert train_cifar([*argv, "--resume"]) == 0
    result = json.loads((out / "result.json").read_text())
    (knee,) = choose(read_front(run, space=None)[0], "knee")
    assert (result["space"], result["recipe"], result["member"], result["genotype"]) == (
        "mobilenetv3", "ofa", knee.index, knee.arch)
    assert result["steps"] == step_of(out) == 6 and (result["width"], result["dropout"]) == (0.25, 0.1)
    spec = InputSpec(1, 16, 10)
    net = SPACES.create("mobilenetv3").build_for_training(knee.arch, spec, width=0.25)
    assert (result["macs"], result["params"]) == count_complexity(net, spec)


def test_transfer_imagenet_under_torchrun_and_resume(run, tmp_path):
    out = tmp_path / "imagenet"
    # --run-dir: torchrun's own parser takes --run for its --run-path.
    argv = ["--run-dir", str(run), "--pick", "knee", "--data-dir", str(shared_data("tiny-imagenet")), "--image-size",
            "32", "--train-limit", "64", "--val-limit", "32", *STEPS, "--out", str(out)]
    assert launch("transfer_imagenet.py", argv, processes=2, kill_at=3).returncode != 0
    assert step_of(out) == 2 and not (out / "result.json").exists()
    resumed = launch("transfer_imagenet.py", [*argv, "--resume"], processes=2)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    state = torch.load(out / "checkpoint.pt", weights_only=True)
    assert state["world_size"] == 2 and state["progress"]["step"] == 6
    result = json.loads((out / "result.json").read_text())
    assert (result["space"], result["recipe"], result["image_size"]) == ("mobilenetv3", "ofa", 32)
    assert 0 <= result["test_accuracy"] <= result["test_top5"] <= 100
