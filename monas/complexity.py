"""Complexity objectives: multiply-accumulates (MACs) and parameters, counted by thop.

thop counts MACs (one multiply-add per weight use), not FLOPs; we keep its name for it.
"""
from __future__ import annotations

import copy

import thop
import torch
from torch import nn

from search_spaces.base import InputSpec


def count_complexity(net: nn.Module, spec: InputSpec) -> tuple[int, int]:
    """(MACs, parameters) of ``net`` for one ``spec``-shaped image.

    Profiles a deep copy, because thop registers buffers on the modules it profiles and
    leaves some behind; the parameter count is cross-checked against ``numel``.
    """
    probe = copy.deepcopy(net).cpu()
    image = torch.zeros(1, spec.channels, spec.resolution, spec.resolution)
    macs, params = thop.profile(probe, inputs=(image,), verbose=False)
    numel = sum(p.numel() for p in net.parameters())
    if int(params) != numel:
        raise RuntimeError(f"thop counted {int(params)} parameters but the network has {numel}: a layer type thop does not know")
    return int(macs), numel
