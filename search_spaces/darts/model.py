"""How DARTS cells become a network: the DARTS CIFAR network, sized by the input, and the
DARTS ImageNet network (stride-2 stems), both with the optional drop-path and auxiliary
head of the DARTS training recipe."""
from __future__ import annotations

from collections.abc import Callable
from functools import partial

import torch
import torch.nn.functional as F
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

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, drop_prob: float = 0.0) -> torch.Tensor:
        """The cell's output; in training, with ``drop_prob > 0``, each edge that is not an
        identity is dropped per image with that probability (drop-path, as in DARTS)."""
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        drop = drop_prob > 0 and self.training
        for k in range(0, len(self.ops), 2):
            h = []
            for op, i in ((self.ops[k], self.indices[k]), (self.ops[k + 1], self.indices[k + 1])):
                out = op(states[i])
                if drop and not isinstance(op, nn.Identity):
                    from torchvision.ops import stochastic_depth  # only training drops paths; importing torchvision takes seconds

                    out = stochastic_depth(out, drop_prob, "row", training=True)
                h.append(out)
            states.append(h[0] + h[1])
        return torch.cat([states[i] for i in self.concat], dim=1)


class CellProbe(nn.Module):
    """One cell alone on the raw input: both its inputs are the image (as many channels
    as it has, no stem; a reduction cell doubles them, as in the network), then global
    pooling and a linear classifier: ``SearchSpace.cell_probes``'s network."""

    def __init__(self, edges: list[tuple[str, int]], concat: list[int], in_channels: int, reduction: bool,
                 num_classes: int) -> None:
        super().__init__()
        c = 2 * in_channels if reduction else in_channels
        self.cell = Cell(edges, concat, in_channels, in_channels, c, reduction, reduction_prev=False)
        self.classifier = nn.Linear(self.cell.multiplier * c, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.cell(x, x).mean((2, 3)))


class AuxiliaryHead(nn.Module):
    """The DARTS auxiliary classifier: ReLU, 5x5 average pooling, 1x1 convolution to 128
    channels, batch-norm, ReLU, 2x2 convolution to 768 channels, (batch-norm,) ReLU and a
    linear layer. DARTS sizes it for the 8x8 (CIFAR, pool stride 3) or 7x7 (ImageNet,
    stride 2) maps behind the second reduction cell, where the pooling yields 2x2; maps
    smaller than the 5x5 window skip that pooling, and every map is then averaged to 2x2,
    so the head works at any input resolution and is exactly DARTS's at the usual one."""

    def __init__(self, c_in: int, num_classes: int, pool_stride: int, final_bn: bool) -> None:
        super().__init__()
        self.pool = nn.AvgPool2d(5, stride=pool_stride, padding=0, count_include_pad=False)
        self.reduce = nn.Sequential(nn.Conv2d(c_in, 128, 1, bias=False), nn.BatchNorm2d(128), nn.ReLU(inplace=True))
        self.expand = nn.Sequential(
            nn.Conv2d(128, 768, 2, bias=False), *([nn.BatchNorm2d(768)] if final_bn else []), nn.ReLU(inplace=True)
        )
        self.classifier = nn.Linear(768, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(x)
        if min(x.shape[-2:]) >= 5:
            x = self.pool(x)
        x = self.expand(self.reduce(F.adaptive_avg_pool2d(x, 2)))
        return self.classifier(x.flatten(1))


class _DartsNetwork(nn.Module):
    """Stem (``build_stem``, given by the subclass), ``layers`` cells with reductions at
    1/3 and 2/3 of the depth, global average pooling and a linear classifier; optionally
    an auxiliary head behind the second reduction cell.

    ``forward`` returns the logits, or ``(logits, auxiliary logits)`` in training mode
    when the network has an auxiliary head. ``drop_path_prob`` (0 at construction; the
    training loop raises it) is the per-edge drop-path probability used in training.
    """

    # The auxiliary head's average-pooling stride and whether it ends with batch-norm.
    auxiliary_pool_stride: int
    auxiliary_final_bn: bool

    def __init__(
        self,
        genotype: Genotype,
        init_channels: int,
        layers: int,
        num_classes: int,
        in_channels: int = 3,
        auxiliary: bool = False,
    ) -> None:
        super().__init__()
        c_prev_prev, c_prev, c_curr, reduction_prev = self.build_stem(in_channels, init_channels)
        head = partial(AuxiliaryHead, pool_stride=self.auxiliary_pool_stride, final_bn=self.auxiliary_final_bn)
        self._build_cells(genotype, c_prev_prev, c_prev, c_curr, layers, reduction_prev, num_classes,
                          head if auxiliary else None)

    def build_stem(self, in_channels: int, init_channels: int) -> tuple[int, int, int, bool]:
        """Make the stem; the first cell's (input channels of s0, of s1, channels, whether
        s0 has twice s1's resolution)."""
        raise NotImplementedError

    def _build_cells(
        self,
        genotype: Genotype,
        c_prev_prev: int,
        c_prev: int,
        c_curr: int,
        layers: int,
        reduction_prev: bool,
        num_classes: int,
        auxiliary: Callable[[int, int], AuxiliaryHead] | None,
    ) -> None:
        self.drop_path_prob = 0.0
        self.cells = nn.ModuleList()
        self._auxiliary_after = 2 * layers // 3
        c_auxiliary = 0
        for i in range(layers):
            reduction = i in (layers // 3, 2 * layers // 3)
            if reduction:
                c_curr *= 2
            edges, concat = (genotype.reduce, genotype.reduce_concat) if reduction else (genotype.normal, genotype.normal_concat)
            cell = Cell(edges, concat, c_prev_prev, c_prev, c_curr, reduction, reduction_prev)
            self.cells.append(cell)
            reduction_prev = reduction
            c_prev_prev, c_prev = c_prev, cell.multiplier * c_curr
            if i == self._auxiliary_after:
                c_auxiliary = c_prev
        if auxiliary is not None:
            self.auxiliary_head = auxiliary(c_auxiliary, num_classes)
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.num_features = c_prev
        self.classifier = nn.Linear(c_prev, num_classes)

    def stem_forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The two inputs of the first cell."""
        raise NotImplementedError

    def forward_stages(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Feature maps at the end of each resolution stage (before each reduction cell,
        and after the last cell)."""
        maps = []
        s0, s1 = self.stem_forward(x)
        for cell in self.cells:
            if cell.reduction:
                maps.append(s1)
            s0, s1 = s1, cell(s0, s1, self.drop_path_prob)
        return maps + [s1]

    def forward_blocks(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The stem's output (the first cell's second input) and every cell's output."""
        s0, s1 = self.stem_forward(x)
        maps = [s1]
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1, self.drop_path_prob)
            maps.append(s1)
        return maps

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Globally pooled output of the last cell, shape (N, num_features)."""
        return self.global_pooling(self.forward_stages(x)[-1]).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        head = getattr(self, "auxiliary_head", None) if self.training else None
        if head is None:
            return self.classifier(self.forward_features(x))
        s0, s1 = self.stem_forward(x)
        for i, cell in enumerate(self.cells):
            s0, s1 = s1, cell(s0, s1, self.drop_path_prob)
            if i == self._auxiliary_after:
                auxiliary_logits = head(s1)
        return self.classifier(self.global_pooling(s1).flatten(1)), auxiliary_logits


class NetworkCIFAR(_DartsNetwork):
    """The DARTS CIFAR network: a 3x3 stem, ``layers`` cells with reductions at 1/3 and
    2/3 of the depth, global average pooling and a linear classifier; with
    ``auxiliary=True`` also DARTS's auxiliary head behind the second reduction cell."""

    stem_multiplier = 3
    auxiliary_pool_stride, auxiliary_final_bn = 3, True

    def build_stem(self, in_channels: int, init_channels: int) -> tuple[int, int, int, bool]:
        c_curr = self.stem_multiplier * init_channels
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, c_curr, 3, padding=1, bias=False),
            nn.BatchNorm2d(c_curr),
        )
        return c_curr, c_curr, init_channels, False

    def stem_forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        s = self.stem(x)
        return s, s


class NetworkImageNet(_DartsNetwork):
    """The DARTS ImageNet network: two stride-2 stems (input / 8 before the first cell;
    224x224 gives 28x28), ``layers`` cells with reductions at 1/3 and 2/3 of the depth,
    global average pooling and a linear classifier; with ``auxiliary=True`` also the
    auxiliary head behind the second reduction cell. The mobile setting of DARTS is
    ``init_channels=48, layers=14``."""

    auxiliary_pool_stride, auxiliary_final_bn = 2, False

    def build_stem(self, in_channels: int, init_channels: int) -> tuple[int, int, int, bool]:
        c = init_channels
        self.stem0 = nn.Sequential(
            nn.Conv2d(in_channels, c // 2, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(c // 2),
            nn.ReLU(inplace=True),
            nn.Conv2d(c // 2, c, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(c),
        )
        self.stem1 = nn.Sequential(
            nn.ReLU(inplace=False),  # s0 also feeds the first cell
            nn.Conv2d(c, c, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(c),
        )
        return c, c, c, True

    def stem_forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        s0 = self.stem0(x)
        return s0, self.stem1(s0)
