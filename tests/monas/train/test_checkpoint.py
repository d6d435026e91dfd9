import random

import numpy as np
import pytest
import torch

from monas.train.checkpoint import (
    TrainingStateError,
    read_checkpoint,
    rng_state,
    seed_everything,
    set_rng_state,
    write_checkpoint,
)
from monas.train.config import TrainConfig

CPU = torch.device("cpu")


def draws():
    return random.random(), float(np.random.rand()), float(torch.rand(1))


def test_generator_states_survive_a_weights_only_round_trip(tmp_path):
    seed_everything(3, 1)
    write_checkpoint(tmp_path / "c.pt", TrainConfig(), 1, {"rng": [rng_state(CPU)]})
    expected = draws()
    saved = read_checkpoint(tmp_path / "c.pt", TrainConfig(), 1)
    set_rng_state(saved["rng"][0], CPU)
    assert draws() == expected


def test_another_number_of_processes_or_setting_is_refused(tmp_path):
    write_checkpoint(tmp_path / "c.pt", TrainConfig(), 1, {})
    with pytest.raises(TrainingStateError, match="written by 1 processes; resume with as many, not 2"):
        read_checkpoint(tmp_path / "c.pt", TrainConfig(), 2)
    with pytest.raises(TrainingStateError, match="trained with seed=0, not 1"):
        read_checkpoint(tmp_path / "c.pt", TrainConfig(seed=1), 1)
    assert read_checkpoint(tmp_path / "c.pt", TrainConfig(max_steps=5), 1)["world_size"] == 1
