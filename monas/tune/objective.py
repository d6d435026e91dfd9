"""The trial objective of ``monas.tune.driver.tune``: train a network with a trial's
hyperparameters and score it on held-out images."""
from __future__ import annotations

import copy
import dataclasses
import time
from dataclasses import dataclass, field

import torch
from torch import nn

from monas.train.config import TrainConfig
from monas.train.curves import CurveStopper
from monas.train.loop import train
from monas.tune.driver import TrialCut


@dataclass
class TrainingObjective:
    """A trial: train a fresh copy of ``network`` (a pruned one when given: the proxy)
    with ``base`` updated by the trial's values on ``train_data`` and measure its error
    (%) on ``val_data``. With ``early_stop``, a learning-curve stopper ends training
    once its prediction of the accuracy at the last epoch has converged, and that
    prediction (clipped to [0, 100]) is the trial's accuracy."""

    network: nn.Module
    train_data: tuple[torch.Tensor, torch.Tensor]
    val_data: tuple[torch.Tensor, torch.Tensor]
    base: TrainConfig
    device: torch.device
    early_stop: bool = False
    info: dict = field(default_factory=dict)

    def config(self, values: dict) -> TrainConfig:
        """The trial's TrainConfig: ``base`` with ``values``, evaluated only at the end
        (every half epoch with early stopping)."""
        config = dataclasses.replace(self.base, **values)
        config.eval_every = 0.5 if self.early_stop else float(config.epochs)
        return config

    def __call__(self, values: dict, deadline: float) -> tuple[float, dict]:
        config = self.config(values)
        stopper = CurveStopper(final_epoch=config.epochs) if self.early_stop else None
        result = train(copy.deepcopy(self.network), self.train_data, self.val_data, config, self.device,
                       stopper=stopper, should_stop=lambda: time.monotonic() >= deadline)
        if result.preempted:
            raise TrialCut()
        accuracy = result.test_accuracy
        if result.stopped_early and result.prediction is not None:
            accuracy = min(100.0, max(0.0, result.prediction))
        info = {
            **self.info,
            "val_accuracy": result.test_accuracy,
            "accuracy": accuracy,
            "predicted": result.stopped_early,
            "epochs_run": result.epochs,
            "train_seconds": result.train_seconds,
            "seconds_per_epoch": result.train_seconds / result.epochs if result.epochs else None,
        }
        return 100.0 - accuracy, info
