"""SIGKILL the real command at several points, resume, and get the uninterrupted result."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from monas.io import LOCK_FILE
from tests.conftest import ROOT

ARGS = ["--dataset", "digits", "-S", "init_channels=4", "-S", "layers=3", "--estimator", "rwe", "-E", "n_train=300",
        "-E", "n_val=200", "--pop-size", "6", "--generations", "4", "--seed", "2", "--no-progress"]
SCRIPT = str(ROOT / "experiments" / "run_nsga.py")


def start(out, env=None):
    return subprocess.Popen([sys.executable, SCRIPT, *ARGS, "--out", str(out)], env={**os.environ, **(env or {})},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def wait_for(condition, proc, timeout=300):
    deadline = time.time() + timeout
    while not condition():
        assert proc.poll() is None, f"the run ended before the kill point: {proc.stderr.read()}"
        assert time.time() < deadline, "kill point not reached"
        time.sleep(0.02)


def lines(path):
    return len(path.read_text().splitlines()) if path.exists() else 0


def archive_content(out):
    return sorted(json.dumps({k: v for k, v in json.loads(line).items() if k != "seconds"}, sort_keys=True)
                  for line in (out / "archive.jsonl").read_text().splitlines())


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("kill") / "reference"
    assert start(out).wait() == 0
    return out


def resume_and_compare(out, reference):
    proc = subprocess.run([sys.executable, SCRIPT, "--resume", str(out), "--no-progress"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert (out / "pareto.json").read_text() == (reference / "pareto.json").read_text()
    assert archive_content(out) == archive_content(reference)
    assert [p.name for p in out.iterdir() if p.name.startswith(".") and p.name != LOCK_FILE] == []


def test_kill_during_an_evaluation(reference, tmp_path):
    out = tmp_path / "run"
    proc = start(out)
    wait_for(lambda: lines(out / "archive.jsonl") >= 8, proc)  # inside generation 2
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    resume_and_compare(out, reference)


def test_kill_between_generations(reference, tmp_path):
    out = tmp_path / "run"
    proc = start(out)
    wait_for(lambda: lines(out / "generations.csv") >= 3, proc)  # generation 2 recorded
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    resume_and_compare(out, reference)


def test_kill_while_checkpointing(reference, tmp_path):
    out = tmp_path / "run"
    proc = start(out, env={"MONAS_KILL_DURING": "checkpoint.json:2"})
    assert proc.wait() == -signal.SIGKILL
    assert [p.name for p in out.iterdir() if p.name.startswith(".checkpoint.json")]  # the torn temporary file
    resume_and_compare(out, reference)
