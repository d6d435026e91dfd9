"""The DARTS micro search space: ``genotypes`` (what a cell is), ``operations`` (the op
table), ``model`` (how cells become a network), ``space`` (the integer encoding)."""
from search_spaces.darts.genotypes import PRIMITIVES, Genotype, format_genotype, parse_genotype
from search_spaces.darts.space import DartsSpace

__all__ = ["PRIMITIVES", "DartsSpace", "Genotype", "format_genotype", "parse_genotype"]
