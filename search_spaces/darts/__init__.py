"""The DARTS micro search space: ``genotypes`` (what a cell is), ``operations`` (the op
table), ``model`` (how cells become a network), ``space`` (the integer encoding).

``DartsSpace`` is imported on first access, so that the genotype helpers come without
torch."""
from search_spaces.darts.genotypes import (
    DARTS_V2,
    NSGA_NET,
    PC_DARTS,
    PRIMITIVES,
    Genotype,
    format_genotype,
    parse_genotype,
)

__all__ = ["DARTS_V2", "NSGA_NET", "PC_DARTS", "PRIMITIVES", "DartsSpace", "Genotype", "format_genotype", "parse_genotype"]


def __getattr__(name: str):
    if name == "DartsSpace":
        from search_spaces.darts.space import DartsSpace

        return DartsSpace
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
