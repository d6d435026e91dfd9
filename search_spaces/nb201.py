"""The NAS-Bench-201 cell space (Dong & Yang, ICLR 2020) and its fixed macro skeleton.

A cell is a 4-node DAG; each of its 6 edges ``i -> j`` (i < j) carries one of
``none, skip_connect, nor_conv_1x1, nor_conv_3x3, avg_pool_3x3``. The genome has one
nominal gene per edge in the benchmark's string order: (1<-0), (2<-0), (2<-1), (3<-0),
(3<-1), (3<-2). The architecture string is the benchmark's ``arch_str``, e.g.
``|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|``.

The network is the benchmark's: a 3x3 stem of 16 channels, three stages of 5 cells at
16/32/64 channels joined by residual reduction blocks, batch-norm + ReLU, global
pooling and a linear classifier, so MACs and params match the benchmark's networks.
That network is also the space's one training form (CIFAR); NAS-Bench-201 has no
ImageNet network.
"""
from __future__ import annotations

import re
from typing import Callable

import numpy as np
import torch
from torch import nn

from monas.registry import SPACES
from search_spaces.base import ArchitectureError, InputSpec, SearchSpace
from search_spaces.layers import ReLUConvBN

NB201_OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
EDGES = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))  # (to, from), in arch_str order
_NODE = re.compile(r"^\|(?:[a-z0-9_]+~\d+\|)+$")


class Zero(nn.Module):
    """The ``none`` operation: the edge contributes nothing."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mul(0.0)


def make_op(name: str, c: int) -> nn.Module:
    """The module of a cell edge with ``c`` channels."""
    if name == "none":
        return Zero()
    if name == "skip_connect":
        return nn.Identity()
    if name == "nor_conv_1x1":
        return ReLUConvBN(c, c, 1, 1, 0)
    if name == "nor_conv_3x3":
        return ReLUConvBN(c, c, 3, 1, 1)
    if name == "avg_pool_3x3":
        return nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
    raise ArchitectureError(f"operation {name!r} is not in the nb201 space (known: {', '.join(NB201_OPS)})")


class InferCell(nn.Module):
    """A cell: node j is the sum of its incoming edges' outputs; the output is node 3."""

    def __init__(self, ops: list[str], c: int) -> None:
        super().__init__()
        self.edges = nn.ModuleList(make_op(op, c) for op in ops)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes = [x]
        for j in (1, 2, 3):
            nodes.append(sum(self.edges[k](nodes[i]) for k, (to, i) in enumerate(EDGES) if to == j))
        return nodes[3]


class CellProbe(nn.Module):
    """One cell alone on the raw input (as many channels as the image, no stem), then
    global pooling and a linear classifier: ``SearchSpace.cell_probes``'s network."""

    def __init__(self, ops: list[str], in_channels: int, num_classes: int) -> None:
        super().__init__()
        self.cell = InferCell(ops, in_channels)
        self.classifier = nn.Linear(in_channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.cell(x).mean((2, 3)))


class ResNetBasicBlock(nn.Module):
    """The residual reduction block between stages (stride 2)."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv_a = ReLUConvBN(c_in, c_out, 3, 2, 1)
        self.conv_b = ReLUConvBN(c_out, c_out, 3, 1, 1)
        self.downsample = nn.Sequential(nn.AvgPool2d(2, stride=2), nn.Conv2d(c_in, c_out, 1, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.downsample(x) + self.conv_b(self.conv_a(x))


class TinyNetwork(nn.Module):
    """NAS-Bench-201's network for one cell."""

    def __init__(self, ops: list[str], channels: int, cells_per_stage: int, num_classes: int, in_channels: int = 3) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(in_channels, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels))
        layers: list[nn.Module] = []
        c = channels
        for stage in range(3):
            if stage:
                layers.append(ResNetBasicBlock(c, 2 * c))
                c *= 2
            layers += [InferCell(ops, c) for _ in range(cells_per_stage)]
        self.cells = nn.Sequential(*layers)
        self.lastact = nn.Sequential(nn.BatchNorm2d(c), nn.ReLU(inplace=False))
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.num_features = c
        self.classifier = nn.Linear(c, num_classes)

    def forward_stages(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Feature maps at the end of each stage (the last after batch-norm + ReLU)."""
        maps = []
        h = self.stem(x)
        for layer in self.cells:
            if isinstance(layer, ResNetBasicBlock):
                maps.append(h)
            h = layer(h)
        return maps + [self.lastact(h)]

    def forward_blocks(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The stem's output and the output of every cell and reduction block."""
        maps = [self.stem(x)]
        for layer in self.cells:
            maps.append(layer(maps[-1]))
        return maps

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Globally pooled features after the last cell, shape (N, num_features)."""
        return self.global_pooling(self.forward_stages(x)[-1]).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.forward_features(x))


def parse_arch_str(arch: str) -> list[str]:
    """The 6 edge operations of an ``arch_str``, in EDGES order; ArchitectureError if malformed."""
    nodes = arch.strip().split("+")
    if len(nodes) != 3 or not all(_NODE.match(n) for n in nodes):
        raise ArchitectureError(f"not a NAS-Bench-201 arch string: {arch!r}")
    ops = []
    for j, node in enumerate(nodes, start=1):
        edges = node.strip("|").split("|")
        if len(edges) != j:
            raise ArchitectureError(f"node {j} of {arch!r} must have {j} inputs, has {len(edges)}")
        for i, edge in enumerate(edges):
            op, _, source = edge.partition("~")
            if int(source) != i:
                raise ArchitectureError(f"node {j} of {arch!r} lists input {source} where {i} belongs")
            if op not in NB201_OPS:
                raise ArchitectureError(f"operation {op!r} is not in the nb201 space (known: {', '.join(NB201_OPS)})")
            ops.append(op)
    return ops


def format_arch_str(ops: list[str]) -> str:
    """The ``arch_str`` of 6 edge operations in EDGES order."""
    nodes, k = [], 0
    for j in (1, 2, 3):
        nodes.append("|" + "|".join(f"{ops[k + i]}~{i}" for i in range(j)) + "|")
        k += j
    return "+".join(nodes)


def _check_size(channels: int, cells_per_stage: int) -> None:
    if channels < 1 or cells_per_stage < 1:
        raise ArchitectureError(f"channels and cells_per_stage must be at least 1, got {channels} and {cells_per_stage}")


@SPACES.register("nb201")
class NB201Space(SearchSpace):
    """NAS-Bench-201: 5^6 = 15,625 cells. ``channels`` and ``cells_per_stage`` default
    to the benchmark's 16 and 5; change them only for a cheaper proxy network."""

    crossover = 0.0  # six genes: a child one edit from its parent searches better (docs/benchmarks.md)
    name = "nb201"
    arch_format = "NAS-Bench-201 arch_str |nor_conv_3x3~0|+|none~0|skip_connect~1|+|avg_pool_3x3~0|nor_conv_1x1~1|none~2|"
    training_forms = {"cifar": {"channels": 16, "cells_per_stage": 5}}

    def __init__(self, channels: int = 16, cells_per_stage: int = 5) -> None:
        _check_size(channels, cells_per_stage)
        self.channels = channels
        self.cells_per_stage = cells_per_stage
        upper = np.full(len(EDGES), len(NB201_OPS) - 1, dtype=np.int64)
        self._bounds = (np.zeros_like(upper), upper)

    @property
    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        return self._bounds

    def to_string(self, genome: np.ndarray) -> str:
        return format_arch_str([NB201_OPS[g] for g in self.validate_genome(genome)])

    def from_string(self, arch: str) -> np.ndarray:
        return np.array([NB201_OPS.index(op) for op in parse_arch_str(arch)], dtype=np.int64)

    def canonical(self, genome: np.ndarray) -> str:
        # Each arch_str is its own benchmark entry (isomorphic cells were trained
        # separately), so the string itself is canonical.
        return self.to_string(genome)

    def reference_genomes(self) -> list[np.ndarray]:
        return [np.full(len(EDGES), NB201_OPS.index("nor_conv_3x3"), dtype=np.int64)]

    def build(self, arch: str, spec: InputSpec) -> nn.Module:
        return self.build_for_training(arch, spec, channels=self.channels, cells_per_stage=self.cells_per_stage)

    def cell_probes(self, arch: str, spec: InputSpec) -> list[Callable[[], nn.Module]]:
        """One probe: every cell of the network is the same."""
        ops = parse_arch_str(arch)
        return [lambda: CellProbe(ops, spec.channels, spec.num_classes)]

    def training_network(self, arch: str, spec: InputSpec, form: str, auxiliary: bool, size: dict) -> nn.Module:
        _check_size(size["channels"], size["cells_per_stage"])
        if spec.resolution % 4:
            raise ArchitectureError(f"the nb201 network needs an input resolution divisible by 4, got {spec.resolution}")
        return TinyNetwork(parse_arch_str(arch), size["channels"], size["cells_per_stage"], spec.num_classes, spec.channels)
