"""Capacity baselines: predict that the network with more parameters (``params``) or
more multiply-accumulates (``macs``) would classify better once trained.

They are the yardstick any estimator has to beat: a proxy that ranks networks no better
than their size adds nothing to a search that already minimises size. Both count with
``monas.complexity.count_complexity``, so the numbers are exactly the search's own
``params`` and ``macs`` objectives, negated.
"""
from __future__ import annotations

from abc import abstractmethod
from typing import Callable

import torch
from torch import nn

from monas.complexity import count_complexity, count_params
from monas.data import ScoringData
from monas.estimators.at_init import seeded_build
from monas.estimators.base import EstimationError, Estimator
from monas.registry import ESTIMATORS
from search_spaces.base import InputSpec


def input_spec(data: ScoringData | None) -> InputSpec:
    """The ``InputSpec`` of the scoring images: channels and (square) resolution from
    ``data.train_x.shape[1:]``; EstimationError when there is no data to read it from."""
    if data is None or data.train_x.ndim != 4:
        raise EstimationError("this estimator reads the input shape from the scoring images but got none")
    channels, height, width = data.train_x.shape[1:]
    if height != width:
        raise EstimationError(f"expected square images, got {height}x{width}")
    return InputSpec(int(channels), int(height), int(data.num_classes))


class _CapacityBaseline(Estimator):
    """Minus a complexity count of the built network; lower (= more capacity) is better.

    The estimate does not depend on the weights, so ``seed`` only seeds ``build()`` (to
    leave torch's global generator untouched). One training and one validation image are
    requested (``n_train = n_val = 1``): the estimator needs the input shape, which only
    the data carries (``data`` is None when an estimator asks for no images), and the
    caller's split needs at least one image on each side. The images themselves are
    not looked at.
    """

    n_train = 1
    n_val = 1

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed

    def estimate(
        self, arch: str, build: Callable[[], nn.Module], data: ScoringData | None, device: torch.device
    ) -> float:
        spec = input_spec(data)
        net = seeded_build(build, self.seed)
        return -float(self.count(net, spec))

    @abstractmethod
    def count(self, net: nn.Module, spec: InputSpec) -> int:
        """The complexity count of ``net`` for ``spec``-shaped images."""


@ESTIMATORS.register("params")
class ParamsBaseline(_CapacityBaseline):
    """Minus the number of parameters (as in the ``params`` objective)."""

    name = "params"

    def count(self, net: nn.Module, spec: InputSpec) -> int:
        return count_params(net)  # what count_complexity checks thop against, without profiling


@ESTIMATORS.register("macs")
class MacsBaseline(_CapacityBaseline):
    """Minus the multiply-accumulates for one image (as in the ``macs`` objective)."""

    name = "macs"

    def count(self, net: nn.Module, spec: InputSpec) -> int:
        return count_complexity(net, spec, copy_first=False)[0]  # built for this count alone
