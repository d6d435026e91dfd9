"""What every search space promises: integer genomes <-> architecture strings <-> networks."""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

from typing import TYPE_CHECKING, Callable

import numpy as np

from monas.errors import ArchitectureError

if TYPE_CHECKING:
    from torch import nn

__all__ = ["FORMS", "ArchitectureError", "InputSpec", "SearchSpace"]

FORMS = {"cifar": "CIFAR", "imagenet": "ImageNet"}
"""The training forms a space may have, and their names in messages."""


@dataclass(frozen=True)
class InputSpec:
    """The shape of the images a network is built for."""

    channels: int
    resolution: int
    num_classes: int


class SearchSpace(ABC):
    """A family of networks indexed by integer genomes.

    Genes are nominal: ``lower[i] <= genome[i] <= upper[i]`` and no order between values
    is implied. The architecture string is the interchange format; ``canonical`` maps
    every genome to the string of the network it builds, so two genomes that build the
    same network share one string.
    """

    name: str
    arch_format: str = ""
    """The architecture string's form, for help texts (a string literal in the class
    body: ``--help`` reads it from the source)."""
    crossover: float = 0.9
    """The uniform crossover probability a search uses in this space unless told
    otherwise (``--crossover``). 0.9, pymoo's customary rate, won in the DARTS space
    (32 genes); NAS-Bench-201 (6 genes) searches better without (docs/benchmarks.md)."""
    training_forms: dict[str, dict[str, int | float]] = {}
    """Per training form (a key of FORMS: "cifar" keeps small images' resolution,
    "imagenet" has ImageNet's stride-2 stem) the settings ``build_for_training`` takes
    and their defaults, the published training network's (a literal, read by ``--help``)."""

    @property
    @abstractmethod
    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Inclusive integer lower and upper bounds of each gene."""

    @abstractmethod
    def to_string(self, genome: np.ndarray) -> str:
        """The architecture string the genome decodes to."""

    @abstractmethod
    def from_string(self, arch: str) -> np.ndarray:
        """The genome of an architecture string; ArchitectureError when it has none."""

    @abstractmethod
    def canonical(self, genome: np.ndarray) -> str:
        """The string of the network ``genome`` builds, equal for equivalent genomes."""

    @abstractmethod
    def build(self, arch: str, spec: InputSpec) -> nn.Module:
        """A randomly initialised network for ``arch``.

        The network has ``forward_stages(x)`` (the feature maps at the end of each
        resolution stage, the last one the network's final map),
        ``forward_features(x) -> (N, D)`` (the features the linear ``classifier``
        reads; ``forward`` applies it), ``num_features`` and ``forward_blocks(x)``: the
        feature map after the stem and after each block (cell, reduction block,
        inverted residual, ...) in forward order, each computed from the one before
        it by one block, so that gradients between consecutive maps are defined.
        """

    def cell_probes(self, arch: str, spec: InputSpec) -> list[Callable[[], nn.Module]]:
        """Builders of the smallest networks that hold ``arch``'s distinct cells, for
        estimators that score cells rather than the deep network (``synflow-cells``):
        one per kind of cell, each the cell alone on the raw input (as many channels as
        the image, no stem) with global pooling and a linear classifier; ``forward``
        returns logits and nothing more is promised. Each call of a builder makes a
        freshly initialised network. Default, for spaces without repeated cells: the
        network itself."""
        return [lambda: self.build(arch, spec)]

    def check_arch(self, arch: str) -> None:
        """ArchitectureError unless ``build_for_training`` builds ``arch``. Default:
        ``from_string`` accepts it."""
        self.from_string(arch)

    def training_settings(self, form: str, **settings: int | float) -> dict[str, int | float]:
        """The ``form``'s default settings updated with ``settings``; ArchitectureError for
        a form the space lacks or a setting it does not know."""
        if form not in self.training_forms:
            raise ArchitectureError(f"the {self.name} space has no {FORMS.get(form, form)} form")
        defaults = self.training_forms[form]
        unknown = sorted(set(settings) - set(defaults))
        if unknown:
            raise ArchitectureError(f"the {self.name} space has no network setting {unknown[0]!r} "
                                    f"(known: {', '.join(defaults)})")
        return {**defaults, **settings}

    def build_for_training(
        self, arch: str, spec: InputSpec, form: str = "cifar", auxiliary: bool = False, **settings: int | float
    ) -> nn.Module:
        """A randomly initialised network of ``arch`` in ``form`` with ``settings``
        (``training_settings``): what ``build`` promises, and in training mode it may
        return ``(logits, auxiliary logits)`` (with ``auxiliary``, where the space has an
        auxiliary head) and drop paths with probability ``drop_path_prob`` (an attribute
        the trainer sets, where the space has one). ArchitectureError for a bad value."""
        return self.training_network(arch, spec, form, auxiliary, self.training_settings(form, **settings))

    @abstractmethod
    def training_network(self, arch: str, spec: InputSpec, form: str, auxiliary: bool, size: dict) -> nn.Module:
        """``build_for_training``'s network, ``size`` holding every setting of ``form``."""

    def reference_genomes(self) -> list[np.ndarray]:
        """Genomes of the space's most complex networks; the search normalises MACs and
        params by their largest values. Default: every gene at its upper bound."""
        return [self.bounds[1].copy()]

    @property
    def n_var(self) -> int:
        """Number of genes."""
        return len(self.bounds[0])

    def validate_genome(self, genome: np.ndarray) -> np.ndarray:
        """``genome`` as an int64 vector; ArchitectureError when out of bounds."""
        genome = np.asarray(genome)
        lower, upper = self.bounds
        if genome.shape != lower.shape:
            raise ArchitectureError(f"genome has {genome.size} genes, the {self.name} space has {lower.size}")
        if not np.all(genome == np.round(genome)):
            raise ArchitectureError("genome genes must be integers")
        genome = genome.astype(np.int64)
        bad = np.flatnonzero((genome < lower) | (genome > upper))
        if bad.size:
            i = int(bad[0])
            raise ArchitectureError(f"gene {i} is {genome[i]}, outside [{lower[i]}, {upper[i]}]")
        return genome
