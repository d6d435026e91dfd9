"""What an accuracy estimator promises: a network family member + data -> error (%)."""
from __future__ import annotations

from abc import ABC, abstractmethod
from contextlib import contextmanager
from typing import Callable, Iterator

import torch
from torch import nn

from monas.data import ScoringData


class EstimationError(RuntimeError):
    """The network could not be scored (non-finite features, diverged fit, ...)."""


class Estimator(ABC):
    """Estimates how badly a network would classify once trained; lower is better.

    Estimators that measure accuracy return an error in %; training-free ones return
    a score whose order is what matters. ``n_train`` and ``n_val`` are the sizes of the
    scoring subsets the estimator wants (0: it needs no data); the caller draws them
    from the training split and passes them as ``ScoringData``. Every estimator takes a
    ``seed`` keyword, set from the run's seed.
    """

    name: str
    error_in_percent: bool = False
    """True for estimators whose estimate is an error in % (figures label it so);
    False for scores whose order is all that matters."""
    n_train: int = 0
    n_val: int = 0
    worst: float = 100.0
    """The estimate recorded for a network that could not be scored: no scored network
    is worse."""

    @abstractmethod
    def estimate(
        self, arch: str, build: Callable[[], nn.Module], data: ScoringData | None, device: torch.device
    ) -> float:
        """The estimate for the network with architecture string ``arch``; ``build()``
        returns it freshly initialised from torch's global random generator, which the
        estimator seeds. ``data`` is None when the estimator asked for no images."""

    def prepare(self, space, spec, data: ScoringData | None, device: torch.device) -> None:
        """Called once with the search space (a ``search_spaces.base.SearchSpace``), its
        input spec and the scoring data before the first ``estimate``; estimators that
        calibrate on the space override it. Default: nothing to do."""

    def knobs(self) -> dict:
        """The settings that determine the estimate, for the run's config record."""
        return {k: v for k, v in vars(self).items() if not k.startswith("_")}


@contextmanager
def deterministic_kernels() -> Iterator[None]:
    """Within the block, cuDNN picks deterministic kernels and does not benchmark
    (its autotuner may choose differently from run to run); the settings are restored
    afterwards. No effect on CPU, where the kernels are deterministic already."""
    saved = torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    try:
        yield
    finally:
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = saved
