import json
import math
import time

import pytest

from monas.io import read_lines
from monas.train.config import TrainConfig
from monas.train.flags import config_flags
from monas.tune.driver import BEST, BEST_FLAGS, TRIALS, TrialCut, tune, write_best
from monas.tune.space import Hyperparameter, TuningSpace

MIXED = TuningSpace((
    Hyperparameter("lr", "log", 0.1, 1e-4, 1.0),
    Hyperparameter("batch_size", "choice", 32, choices=(32, 64, 128, 256)),
    Hyperparameter("epochs", "int", 8, 1, 10),
    Hyperparameter("flip", "bool", True),
    Hyperparameter("mixup", "real", 0.9, 0.0, 1.0),
))


def bowl(values: dict, deadline: float) -> tuple[float, dict]:
    """Minimum 0 at lr=0.01, batch 128, 3 epochs, no flip, mixup 0.25."""
    value = (math.log10(values["lr"]) + 2) ** 2 + (values["batch_size"] != 128) + (values["epochs"] - 3) ** 2
    return value + values["flip"] + (values["mixup"] - 0.25) ** 2, {}


def quiet(line: str) -> None:
    pass


def test_nomad_finds_the_optimum_of_a_mixed_problem(tmp_path):
    result = tune(bowl, MIXED, tmp_path, time_budget=60, max_trials=300, seed=0, log=quiet)
    assert result.best.values == {"lr": 0.01, "batch_size": 128, "epochs": 3, "flip": False, "mixup": 0.25}
    assert result.best.objective == pytest.approx(0.0, abs=1e-6)
    assert len(read_lines(tmp_path / TRIALS)) == len(result.trials) <= 300


def test_time_budget_is_respected_and_the_running_trial_cut(tmp_path):
    def slow(values, deadline):
        end = time.monotonic() + 0.3
        while time.monotonic() < end:
            if time.monotonic() >= deadline:
                raise TrialCut()
            time.sleep(0.01)
        return bowl(values, deadline)

    start = time.monotonic()
    result = tune(slow, MIXED, tmp_path, time_budget=1.0, log=quiet)
    assert time.monotonic() - start < 2.5
    assert result.stop_reason == "time budget spent"
    assert result.trials[-1].status == "cut" and result.trials[-1].objective is None
    assert 2 <= sum(t.status == "ok" for t in result.trials) <= 4
    assert result.seconds <= 1.1 and result.trials[-1].elapsed >= 1.0
    # The budget covers the whole tuning: resuming with it spent runs nothing.
    again = tune(slow, MIXED, tmp_path, time_budget=1.0, log=quiet)
    assert len(again.trials) == len(result.trials) and again.stop_reason == "time budget spent"


def test_resume_replays_logged_trials_without_running_them(tmp_path):
    whole = tune(bowl, MIXED, tmp_path / "whole", time_budget=60, max_trials=25, seed=1, log=quiet)
    calls, interrupt_at = [], [11]

    def counted(values, deadline):
        calls.append(values)
        if len(calls) == interrupt_at[0]:
            raise KeyboardInterrupt
        return bowl(values, deadline)

    with pytest.raises(KeyboardInterrupt):
        tune(counted, MIXED, tmp_path / "split", time_budget=60, max_trials=25, seed=1, log=quiet)
    assert len(read_lines(tmp_path / "split" / TRIALS)) == 10  # the interrupted trial is not logged
    calls.clear()
    interrupt_at[0] = None
    resumed = tune(counted, MIXED, tmp_path / "split", time_budget=60, max_trials=25, seed=1, log=quiet)
    assert len(calls) == len(whole.trials) - 10  # only the trials never finished ran
    assert [t.values for t in resumed.trials] == [t.values for t in whole.trials]
    assert resumed.best.values == whole.best.values


def test_failed_trials_are_logged_and_tuning_goes_on(tmp_path):
    def fragile(values, deadline):
        if values["batch_size"] == 64:
            raise RuntimeError("out of memory")
        return bowl(values, deadline)

    result = tune(fragile, MIXED, tmp_path, time_budget=60, max_trials=40, log=quiet)
    failed = [t for t in result.trials if t.status == "failed"]
    assert failed and failed[0].info["error"] == "RuntimeError: out of memory" and failed[0].objective is None
    assert len(result.trials) == 40 and result.best.values["batch_size"] != 64


def test_best_is_written_as_train_cifar_flags(tmp_path):
    config = TrainConfig(lr=0.01, batch_size=128, flip=False, epochs=3, auxiliary_weight=0.0, loader_workers=0)
    flags = config_flags(config, "darts", TrainConfig(), {"init_channels": 16, "layers": 8})
    assert flags == ["--recipe", "darts", "--net", "init_channels=16", "--net", "layers=8", "--epochs", "3",
                     "--batch-size", "128", "--lr", "0.01", "--auxiliary-weight", "0.0", "--no-flip"]
    result = tune(bowl, MIXED, tmp_path, time_budget=60, max_trials=5, log=quiet)
    write_best(tmp_path, result.best, config, flags)
    assert (tmp_path / BEST_FLAGS).read_text() == " ".join(flags) + "\n"
    best = json.loads((tmp_path / BEST).read_text())
    assert best["trial"]["values"] == result.best.values and best["flags"] == flags

