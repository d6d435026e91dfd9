"""How DARTS cells become a network: the DARTS CIFAR network, sized by the input."""
from __future__ import annotations

import torch
from torch import nn

from search_spaces.darts.genotypes import Genotype
from search_spaces.darts.operations import OPS, FactorizedReduce
from search_spaces.layers import ReLUConvBN


class Cell(nn.Module):
    """One normal or reduction cell built from a genotype's edge list."""

    def __init__(
        self,
        edges: list[tuple[str, int]],
        concat: list[int],
        c_prev_prev: int,
        c_prev: int,
        c: int,
        reduction: bool,
        reduction_prev: bool,
    ) -> None:
        super().__init__()
        self.reduction = reduction
        self.preprocess0 = FactorizedReduce(c_prev_prev, c) if reduction_prev else ReLUConvBN(c_prev_prev, c, 1, 1, 0)
        self.preprocess1 = ReLUConvBN(c_prev, c, 1, 1, 0)
        self.indices = [i for _, i in edges]
        self.concat = list(concat)
        self.multiplier = len(self.concat)
        self.ops = nn.ModuleList(OPS[op](c, 2 if reduction and i < 2 else 1) for op, i in edges)

    def forward(self, s0: torch.Tensor, s1: torch.Tensor) -> torch.Tensor:
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        for k in range(0, len(self.ops), 2):
            h1 = self.ops[k](states[self.indices[k]])
            h2 = self.ops[k + 1](states[self.indices[k + 1]])
            states.append(h1 + h2)
        return torch.cat([states[i] for i in self.concat], dim=1)


class NetworkCIFAR(nn.Module):
    """The DARTS CIFAR network: a 3x3 stem, ``layers`` cells with reductions at 1/3 and
    2/3 of the depth, global average pooling and a linear classifier."""

    stem_multiplier = 3

    def __init__(
        self,
        genotype: Genotype,
        init_channels: int,
        layers: int,
        num_classes: int,
        in_channels: int = 3,
    ) -> None:
        super().__init__()
        c_curr = self.stem_multiplier * init_channels
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, c_curr, 3, padding=1, bias=False),
            nn.BatchNorm2d(c_curr),
        )
        c_prev_prev, c_prev, c_curr = c_curr, c_curr, init_channels
        self.cells = nn.ModuleList()
        reduction_prev = False
        for i in range(layers):
            reduction = i in (layers // 3, 2 * layers // 3)
            if reduction:
                c_curr *= 2
            edges, concat = (genotype.reduce, genotype.reduce_concat) if reduction else (genotype.normal, genotype.normal_concat)
            cell = Cell(edges, concat, c_prev_prev, c_prev, c_curr, reduction, reduction_prev)
            self.cells.append(cell)
            reduction_prev = reduction
            c_prev_prev, c_prev = c_prev, cell.multiplier * c_curr
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.num_features = c_prev
        self.classifier = nn.Linear(c_prev, num_classes)

    def forward_stages(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Feature maps at the end of each resolution stage (before each reduction cell,
        and after the last cell)."""
        maps = []
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            if cell.reduction:
                maps.append(s1)
            s0, s1 = s1, cell(s0, s1)
        return maps + [s1]

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Globally pooled output of the last cell, shape (N, num_features)."""
        return self.global_pooling(self.forward_stages(x)[-1]).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.forward_features(x))
