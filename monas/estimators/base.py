"""What an accuracy estimator promises: a network family member + data -> error (%)."""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Callable

import torch
from torch import nn

from monas.data import ScoringData


class EstimationError(RuntimeError):
    """The network could not be scored (non-finite features, diverged fit, ...)."""


class Estimator(ABC):
    """Estimates the classification error (%) a network would reach; lower is better.

    ``n_train`` and ``n_val`` are the sizes of the scoring subsets the estimator wants;
    the caller draws them from the training split and passes them as ``ScoringData``.
    """

    name: str
    n_train: int
    n_val: int

    @abstractmethod
    def estimate(self, build: Callable[[], nn.Module], data: ScoringData, device: torch.device) -> float:
        """Error (%) on ``data.val_*``; ``build()`` returns a freshly initialised network
        drawing from torch's global random generator, which the estimator seeds."""

    def knobs(self) -> dict:
        """The settings that determine the estimate, for the run's config record."""
        return {k: v for k, v in vars(self).items() if not k.startswith("_")}
