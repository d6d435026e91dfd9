import time

import pytest
import torch

from monas.train.config import TrainConfig
from monas.tune.driver import tune
from monas.tune.objective import TrainingObjective
from monas.tune.space import training_space
from tests.conftest import shared_data


def quiet(line: str) -> None:
    pass


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
