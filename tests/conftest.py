"""Shared fixtures: the real datasets in ../shared/data, and a small finished run."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"

# A small, fast digits search used by several tests.
SMALL_RUN_ARGS = [
    "--dataset", "digits",
    "-S", "init_channels=4", "-S", "layers=3",
    "--estimator", "rwe", "-E", "n_train=300", "-E", "n_val=200",
    "--pop-size", "6", "--generations", "2", "--seed", "1", "--no-progress",
]


def shared_data(*parts: str) -> Path:
    """Path under ../shared/data; skips the test when absent, fails instead when
    MONAS_REQUIRE_SHARED_DATA=1."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        message = f"{path} is not available"
        if os.environ.get("MONAS_REQUIRE_SHARED_DATA") == "1":
            pytest.fail(message + " but MONAS_REQUIRE_SHARED_DATA=1")
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def small_run(tmp_path_factory) -> Path:
    """A finished 2-generation digits search (run once per session)."""
    from monas.cli.nsga import main

    out = tmp_path_factory.mktemp("runs") / "digits"
    assert main([*SMALL_RUN_ARGS, "--out", str(out)]) == 0
    return out


@pytest.fixture
def one_thread():
    """One torch thread for the test: on a loaded 2-core machine two threads per process
    oversubscribe the cores and a tiny training run takes ten times as long."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
