"""Layers shared by several spaces."""
from __future__ import annotations

from torch import nn


class ReLUConvBN(nn.Sequential):
    """ReLU, bias-free convolution, batch-norm: the pre-activation unit of DARTS and
    NAS-Bench-201."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, padding: int) -> None:
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=padding, bias=False),
            nn.BatchNorm2d(c_out),
        )
