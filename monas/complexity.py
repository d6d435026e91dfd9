"""Complexity objectives: multiply-accumulates (MACs) and parameters, counted by thop.

MACs are the multiply-accumulates of convolutions and linear layers for one image,
the convention of NAS-Bench-201 and of the mobile-network literature: batch-norm
folds into the preceding convolution at inference and pooling multiplies nothing, so
thop's rules for them are replaced by zero (thop's defaults would add about 1-2 %).
thop counts MACs, not FLOPs; we keep the name MACs.
"""
from __future__ import annotations

import copy

import thop
import torch
from torch import nn

from search_spaces.base import InputSpec


def _no_macs(module: nn.Module, inputs, output) -> None:
    module.total_ops += torch.zeros(1, dtype=torch.float64)


_ZERO_MAC_LAYERS = (
    nn.BatchNorm1d,
    nn.BatchNorm2d,
    nn.AvgPool2d,
    nn.MaxPool2d,
    nn.AdaptiveAvgPool2d,
    nn.AdaptiveMaxPool2d,
)
CUSTOM_OPS = {layer: _no_macs for layer in _ZERO_MAC_LAYERS}


def count_params(net: nn.Module) -> int:
    """The parameters of ``net`` that run at inference: an auxiliary classifier (a
    submodule ``auxiliary_head``, which runs only in training) is not counted."""
    training_only = getattr(net, "auxiliary_head", None)
    skipped = {id(p) for p in training_only.parameters()} if training_only is not None else set()
    return sum(p.numel() for p in net.parameters() if id(p) not in skipped)


def count_complexity(net: nn.Module, spec: InputSpec, copy_first: bool = True) -> tuple[int, int]:
    """(MACs, parameters) of ``net`` for one ``spec``-shaped image.

    Profiles a deep copy, because thop registers buffers on the modules it profiles and
    leaves some behind (``copy_first=False`` profiles ``net`` itself: for a network built
    only to be counted, and then thrown away); the parameter count is cross-checked against ``numel``. An
    auxiliary classifier (a submodule ``auxiliary_head``, which runs only in training)
    is not counted, as in the DARTS literature's figures.
    """
    probe = copy.deepcopy(net).cpu() if copy_first else net.cpu()
    image = torch.zeros(1, spec.channels, spec.resolution, spec.resolution)
    macs, params = thop.profile(probe, inputs=(image,), custom_ops=CUSTOM_OPS, verbose=False)
    numel = count_params(net)
    if int(params) != numel:
        raise RuntimeError(f"thop counted {int(params)} parameters but the network has {numel}: a layer type thop does not know")
    return int(macs), numel
