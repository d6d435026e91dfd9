"""The DARTS/NASNet micro space as integer genomes (NSGA-Net style encoding).

Genome layout: the normal cell's ``blocks`` blocks, then the reduction cell's. Block
``b`` is four genes ``[op1, input1, op2, input2]``; an op gene indexes ``PRIMITIVES``
(nominal, 0..6) and an input gene is in ``0..b+1`` (the two cell inputs, then earlier
blocks). Every block is concatenated into the cell output, as in DARTS.
"""
from __future__ import annotations

import numpy as np
from torch import nn

from monas.registry import SPACES
from search_spaces.base import ArchitectureError, InputSpec, SearchSpace
from search_spaces.darts.genotypes import PRIMITIVES, Genotype, format_genotype, parse_genotype
from search_spaces.darts.model import NetworkCIFAR

_CELLS = ("normal", "reduce")


@SPACES.register("darts")
class DartsSpace(SearchSpace):
    """DARTS cells, built into the DARTS CIFAR network with ``layers`` cells of
    ``init_channels`` base width (defaults: the small proxy network used for search)."""

    name = "darts"
    arch_format = "Genotype(normal=[('sep_conv_3x3', 0), ('skip_connect', 1), ...], normal_concat=[2, 3, 4, 5], reduce=[...], reduce_concat=[2, 3, 4, 5])"

    def __init__(self, blocks: int = 4, init_channels: int = 16, layers: int = 8) -> None:
        if blocks < 1:
            raise ValueError("blocks must be at least 1")
        if init_channels < 1 or init_channels % 2:
            raise ValueError("init_channels must be a positive even number")
        if layers < 3:
            raise ValueError("layers must be at least 3 (two reduction cells and a normal cell)")
        self.blocks = blocks
        self.init_channels = init_channels
        self.layers = layers
        upper_cell = []
        for b in range(blocks):
            upper_cell += [len(PRIMITIVES) - 1, b + 1, len(PRIMITIVES) - 1, b + 1]
        upper = np.array(upper_cell * len(_CELLS), dtype=np.int64)
        self._bounds = (np.zeros_like(upper), upper)

    @property
    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        return self._bounds

    def genotype(self, genome: np.ndarray) -> Genotype:
        """The DARTS Genotype of a genome."""
        genome = self.validate_genome(genome)
        concat = list(range(2, 2 + self.blocks))
        cells = {}
        for c, cell in enumerate(_CELLS):
            genes = genome[c * 4 * self.blocks : (c + 1) * 4 * self.blocks].reshape(-1, 2)
            cells[cell] = [(PRIMITIVES[op], int(i)) for op, i in genes]
            cells[f"{cell}_concat"] = concat
        return Genotype(**cells)

    def reference_genomes(self) -> list[np.ndarray]:
        """One genome per primitive, using it on every edge (whichever op is costliest
        at this size sets the normalisation)."""
        upper = self.bounds[1]
        genomes = []
        for op in range(len(PRIMITIVES)):
            genome = upper.copy()
            genome[0::2] = op
            genomes.append(genome)
        return genomes

    def to_string(self, genome: np.ndarray) -> str:
        return format_genotype(self.genotype(genome))

    def from_string(self, arch: str) -> np.ndarray:
        genotype = parse_genotype(arch)
        genes = []
        for cell in _CELLS:
            edges = getattr(genotype, cell)
            if len(edges) != 2 * self.blocks:
                raise ArchitectureError(
                    f"{cell} cell has {len(edges) // 2} nodes, this darts space has {self.blocks} (see --blocks)"
                )
            concat = list(getattr(genotype, f"{cell}_concat"))
            if concat != list(range(2, 2 + self.blocks)):
                raise ArchitectureError(
                    f"{cell}_concat is {concat}; the darts space concatenates every node, "
                    f"{list(range(2, 2 + self.blocks))}"
                )
            for k, (op, i) in enumerate(edges):
                if op not in PRIMITIVES:
                    raise ArchitectureError(f"operation {op!r} is not in the darts space (known: {', '.join(PRIMITIVES)})")
                if not 0 <= i <= k // 2 + 1:
                    raise ArchitectureError(f"{cell} node {k // 2 + 2} takes input {i}, which does not precede it")
                genes += [PRIMITIVES.index(op), i]
        return np.array(genes, dtype=np.int64)

    def canonical(self, genome: np.ndarray) -> str:
        # A node sums its two inputs, so the order of its two (op, input) pairs is irrelevant.
        blocks = self.validate_genome(genome).reshape(-1, 2, 2)
        order = np.lexsort((blocks[:, :, 0], blocks[:, :, 1]), axis=1)
        canonical = np.take_along_axis(blocks, order[:, :, None], axis=1)
        return self.to_string(canonical.reshape(-1))

    def build(self, arch: str, spec: InputSpec) -> nn.Module:
        if spec.resolution % 4:
            raise ArchitectureError(f"the darts network needs an input resolution divisible by 4, got {spec.resolution}")
        genotype = parse_genotype(arch)
        for cell in _CELLS:
            for op, _ in getattr(genotype, cell):
                if op not in PRIMITIVES:
                    raise ArchitectureError(f"operation {op!r} is not in the darts space")
        return NetworkCIFAR(genotype, self.init_channels, self.layers, spec.num_classes, spec.channels)
