import json
import math
import time

import pytest
import torch

from monas.io import read_lines
from monas.train.loop import TrainConfig
from monas.tune.nomad import (
    BEST,
    BEST_FLAGS,
    TRIALS,
    Hyperparameter,
    TrainingObjective,
    TrialCut,
    TuningSpace,
    config_flags,
    training_space,
    tune,
    write_best,
)
from tests.conftest import shared_data

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


def test_space_declares_types_and_decodes():
    space = training_space(2, 6)
    types = space.nomad_parameters()[0]
    assert types == "BB_INPUT_TYPE ( R R I R R I B I I R R I )"
    values = space.decode(space.x0)
    assert values == {p.name: p.default for p in space.params}
    assert values["epochs"] == 4 and values["batch_size"] == 64
    assert space.decode(space.upper)["lr"] == 0.5 and space.decode(space.lower)["batch_size"] == 32
    assert "epochs" not in {p.name for p in training_space(tune_epochs=False).params}
    assert "epochs" not in {p.name for p in training_space(3, 3).params}
    with pytest.raises(ValueError):
        Hyperparameter("lr", "log", 0.0, 0.0, 1.0)
    with pytest.raises(ValueError, match="single value"):
        Hyperparameter("epochs", "int", 1, 1, 1)


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
    flags = config_flags(config)
    assert flags == ["--epochs", "3", "--batch-size", "128", "--lr", "0.01", "--auxiliary-weight", "0.0", "--no-flip"]
    result = tune(bowl, MIXED, tmp_path, time_budget=60, max_trials=5, log=quiet)
    write_best(tmp_path, result.best, config)
    assert (tmp_path / BEST_FLAGS).read_text() == " ".join(flags) + "\n"
    assert json.loads((tmp_path / BEST).read_text())["trial"]["values"] == result.best.values


def test_two_real_trials_on_a_tiny_darts_network(tmp_path, one_thread):
    from monas.data import load_dataset
    from search_spaces.darts.genotypes import parse_genotype
    from search_spaces.darts.model import NetworkCIFAR

    images = load_dataset("cifar10", shared_data("cifar10"), "train")
    idx = list(range(0, 1000, 5))
    data = (images.images(idx[:160]), torch.from_numpy(images.labels[idx[:160]]))
    val = (images.images(idx[160:]), torch.from_numpy(images.labels[idx[160:]]))
    genotype = parse_genotype(
        "Genotype(normal=[('sep_conv_3x3', 0), ('skip_connect', 1), ('max_pool_3x3', 0), ('dil_conv_3x3', 2)], "
        "normal_concat=[2, 3], reduce=[('avg_pool_3x3', 0), ('sep_conv_3x3', 1), ('skip_connect', 2), "
        "('max_pool_3x3', 0)], reduce_concat=[2, 3])"
    )
    torch.manual_seed(0)
    net = NetworkCIFAR(genotype, 4, 3, 10)
    base = TrainConfig(epochs=1, auxiliary_weight=0.0, loader_workers=0, drop_path=0.0)
    objective = TrainingObjective(net, data, val, base, torch.device("cpu"))
    start = time.monotonic()
    result = tune(objective, training_space(1, 1), tmp_path, time_budget=60, max_trials=2, log=quiet)
    assert time.monotonic() - start < 30
    assert [t.status for t in result.trials] == ["ok", "ok"]
    for trial in result.trials:
        assert 0 <= trial.info["val_accuracy"] <= 100
        assert trial.objective == pytest.approx(100 - trial.info["val_accuracy"])
        assert trial.info["epochs_run"] == 1
