"""The DARTS/NASNet micro space as integer genomes (NSGA-Net style encoding).

Genome layout: the normal cell's ``blocks`` blocks, then the reduction cell's. Block
``b`` is four genes ``[op1, input1, op2, input2]``; an op gene indexes ``PRIMITIVES``
(nominal, 0..6) and an input gene is in ``0..b+1`` (the two cell inputs, then earlier
blocks). Every block is concatenated into the cell output, as in DARTS.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
from torch import nn

from monas.registry import SPACES
from search_spaces.base import FORMS, ArchitectureError, InputSpec, SearchSpace
from search_spaces.darts.genotypes import PRIMITIVES, Genotype, format_genotype, parse_genotype
from search_spaces.darts.model import CellProbe, NetworkCIFAR, NetworkImageNet

_CELLS = ("normal", "reduce")


def _check_size(init_channels: int, layers: int) -> None:
    if init_channels < 2 or init_channels % 2:
        raise ArchitectureError(f"init_channels must be a positive even number, got {init_channels}")
    if layers < 3:
        raise ArchitectureError(f"layers must be at least 3 (two reduction cells and a normal cell), got {layers}")


def _check_cell(genotype: Genotype, cell: str, blocks: int | None = None) -> list[int]:
    """The genes of ``genotype``'s ``cell`` (operation index, input per edge); ArchitectureError
    unless its operations are DARTS's, its edges come in pairs, each input precedes its
    node and its concat lists distinct nodes. With ``blocks`` (the search encoding) it
    must also have that many nodes, every one concatenated."""
    edges = getattr(genotype, cell)
    concat = list(getattr(genotype, f"{cell}_concat"))
    nodes = list(range(2, 2 + len(edges) // 2))
    if blocks is not None and len(edges) != 2 * blocks:
        raise ArchitectureError(f"{cell} cell has {len(edges) // 2} nodes, this darts space has {blocks} (see --blocks)")
    if not edges or len(edges) % 2:
        raise ArchitectureError(f"{cell} cell lists {len(edges)} edges; every node has two")
    if blocks is not None and concat != nodes:
        raise ArchitectureError(f"{cell}_concat is {concat}; the darts space concatenates every node, {nodes}")
    if not concat or len(set(concat)) < len(concat) or not set(concat) <= set(nodes):
        raise ArchitectureError(f"{cell}_concat is {concat}; it must list distinct nodes of {nodes}")
    genes = []
    for k, (op, i) in enumerate(edges):
        if op not in PRIMITIVES:
            raise ArchitectureError(f"operation {op!r} is not in the darts space (known: {', '.join(PRIMITIVES)})")
        if not 0 <= i <= k // 2 + 1:
            raise ArchitectureError(f"{cell} node {k // 2 + 2} takes input {i}, which does not precede it")
        genes += [PRIMITIVES.index(op), i]
    return genes


def _trainable(arch: str) -> Genotype:
    """The Genotype of ``arch`` once both its cells pass ``_check_cell``."""
    genotype = parse_genotype(arch)
    for cell in _CELLS:
        _check_cell(genotype, cell)
    return genotype


@SPACES.register("darts")
class DartsSpace(SearchSpace):
    """DARTS cells, built into the DARTS CIFAR network with ``layers`` cells of
    ``init_channels`` base width (defaults: the small proxy network used for search).

    Training forms: DARTS's CIFAR network (36 channels, 20 cells) and its ImageNet
    network in the mobile setting (48 channels, 14 cells), both with the optional
    auxiliary head and drop-path; they build any DARTS genotype (``check_arch``), not
    only those of this encoding."""

    name = "darts"
    arch_format = "Genotype(normal=[('sep_conv_3x3', 0), ('skip_connect', 1), ...], normal_concat=[2, 3, 4, 5], reduce=[...], reduce_concat=[2, 3, 4, 5])"
    training_forms = {"cifar": {"init_channels": 36, "layers": 20}, "imagenet": {"init_channels": 48, "layers": 14}}

    def __init__(self, blocks: int = 4, init_channels: int = 16, layers: int = 8) -> None:
        if blocks < 1:
            raise ValueError("blocks must be at least 1")
        _check_size(init_channels, layers)
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
        return np.array([g for cell in _CELLS for g in _check_cell(genotype, cell, self.blocks)], dtype=np.int64)

    def check_arch(self, arch: str) -> None:
        """Any DARTS genotype: DARTS operations, inputs that precede their node, a concat
        of distinct nodes; any number of nodes, not all concatenated (NSGA-Net's cells)."""
        _trainable(arch)

    def canonical(self, genome: np.ndarray) -> str:
        # A node sums its two inputs, so the order of its two (op, input) pairs is irrelevant.
        blocks = self.validate_genome(genome).reshape(-1, 2, 2)
        order = np.lexsort((blocks[:, :, 0], blocks[:, :, 1]), axis=1)
        canonical = np.take_along_axis(blocks, order[:, :, None], axis=1)
        return self.to_string(canonical.reshape(-1))

    def build(self, arch: str, spec: InputSpec) -> nn.Module:
        return self.build_for_training(arch, spec, init_channels=self.init_channels, layers=self.layers)

    def cell_probes(self, arch: str, spec: InputSpec) -> list[Callable[[], nn.Module]]:
        """Two probes: the normal cell, then the reduction cell."""
        g = _trainable(arch)
        return [lambda: CellProbe(g.normal, g.normal_concat, spec.channels, False, spec.num_classes),
                lambda: CellProbe(g.reduce, g.reduce_concat, spec.channels, True, spec.num_classes)]

    def training_network(self, arch: str, spec: InputSpec, form: str, auxiliary: bool, size: dict) -> nn.Module:
        _check_size(size["init_channels"], size["layers"])
        genotype = _trainable(arch)
        # The CIFAR network halves the resolution twice; the ImageNet one 3 times more in its stems.
        divisor = 4 if form == "cifar" else 32
        if spec.resolution % divisor:
            raise ArchitectureError(f"the darts {FORMS[form]} network needs an input resolution divisible by "
                                    f"{divisor}, got {spec.resolution}")
        network = NetworkCIFAR if form == "cifar" else NetworkImageNet
        return network(genotype, size["init_channels"], size["layers"], spec.num_classes, spec.channels, auxiliary)
