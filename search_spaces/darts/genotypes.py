"""What a DARTS cell is: the ``Genotype`` record, its published string format, and
published cells as architecture strings.

A genotype lists, for each intermediate node of a cell, two ``(operation, input)``
pairs; inputs 0 and 1 are the outputs of the two previous cells, input ``k >= 2`` is
intermediate node ``k - 2``. ``*_concat`` names the nodes concatenated into the output.

Published cells, each the string its authors' repository prints (so ``range(2, 6)``
where they wrote it):

- ``DARTS_V2``: DARTS, second order (Liu et al., ICLR 2019), ``DARTS_V2`` of
  github.com/quark0/darts ``cnn/genotypes.py`` (also in PC-DARTS's copy of that file).
- ``PC_DARTS``: PC-DARTS's CIFAR-10 cell (Xu et al., ICLR 2020), ``PC_DARTS_cifar``
  (= ``PCDARTS``) of github.com/yuhuixu1993/PC-DARTS ``genotypes.py``.
- ``NSGA_NET``: NSGA-Net's best CIFAR-10 cell of the micro space (Lu et al., GECCO
  2019), ``NSGANet`` of github.com/ianwhale/nsga-net ``models/micro_genotypes.py``:
  five nodes, and only the nodes no other node reads are concatenated, so the integer
  encoding of the darts search space (four nodes, all concatenated) cannot hold it;
  the training forms build it. (NSGA-Net's own network widens its cells by a
  ``filter_increment``; DARTS's network here does not.)
"""
from __future__ import annotations

import ast
from collections import namedtuple

from search_spaces.base import ArchitectureError

Genotype = namedtuple("Genotype", "normal normal_concat reduce reduce_concat")

PRIMITIVES = (
    "max_pool_3x3",
    "avg_pool_3x3",
    "skip_connect",
    "sep_conv_3x3",
    "sep_conv_5x5",
    "dil_conv_3x3",
    "dil_conv_5x5",
)

DARTS_V2 = (
    "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), "
    "('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], normal_concat=[2, 3, 4, 5], "
    "reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', 0), "
    "('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])"
)
PC_DARTS = (
    "Genotype(normal=[('sep_conv_3x3', 1), ('skip_connect', 0), ('sep_conv_3x3', 0), ('dil_conv_3x3', 1), "
    "('sep_conv_5x5', 0), ('sep_conv_3x3', 1), ('avg_pool_3x3', 0), ('dil_conv_3x3', 1)], normal_concat=range(2, 6), "
    "reduce=[('sep_conv_5x5', 1), ('max_pool_3x3', 0), ('sep_conv_5x5', 1), ('sep_conv_5x5', 2), ('sep_conv_3x3', 0), "
    "('sep_conv_3x3', 3), ('sep_conv_3x3', 1), ('sep_conv_3x3', 2)], reduce_concat=range(2, 6))"
)
NSGA_NET = (
    "Genotype(normal=[('skip_connect', 0), ('max_pool_3x3', 0), ('dil_conv_5x5', 0), ('max_pool_3x3', 0), "
    "('dil_conv_5x5', 1), ('sep_conv_3x3', 3), ('max_pool_3x3', 1), ('sep_conv_5x5', 3), ('sep_conv_3x3', 1), "
    "('sep_conv_3x3', 0)], normal_concat=[2, 4, 5, 6], "
    "reduce=[('avg_pool_3x3', 0), ('sep_conv_3x3', 1), ('dil_conv_3x3', 1), ('max_pool_3x3', 0), ('skip_connect', 2), "
    "('dil_conv_5x5', 1), ('skip_connect', 2), ('avg_pool_3x3', 1), ('dil_conv_5x5', 1), ('dil_conv_3x3', 1)], "
    "reduce_concat=[3, 4, 5, 6])"
)
PUBLISHED = {"DARTS_V2": DARTS_V2, "PC_DARTS": PC_DARTS, "NSGA_NET": NSGA_NET}

_FIELDS = Genotype._fields
# A range(...) concat longer than any cell could be is refused before it is expanded, so
# that range(0, 10**10) cannot exhaust memory.
MAX_RANGE = 1024


def format_genotype(genotype: Genotype) -> str:
    """The string DARTS, NAS-Bench-301 and NSGA-Net publish, with concat as lists."""
    parts = []
    for field in _FIELDS:
        value = getattr(genotype, field)
        if field.endswith("concat"):
            parts.append(f"{field}={list(value)!r}")
        else:
            pairs = ", ".join(f"({op!r}, {int(i)})" for op, i in value)
            parts.append(f"{field}=[{pairs}]")
    return f"Genotype({', '.join(parts)})"


def parse_genotype(text: str) -> Genotype:
    """Parse a published ``Genotype(...)`` string without evaluating code.

    Accepts concat written as a list or as ``range(a, b)``. Raises ArchitectureError
    naming what is wrong.
    """
    try:
        tree = ast.parse(text.strip(), mode="eval").body
    except SyntaxError as exc:
        raise ArchitectureError(f"not a Genotype string: {exc.msg}") from None
    if not (isinstance(tree, ast.Call) and isinstance(tree.func, ast.Name) and tree.func.id == "Genotype"):
        raise ArchitectureError("not a Genotype string: expected 'Genotype(normal=..., ...)'")
    if tree.args:
        raise ArchitectureError("Genotype fields must be given by name")
    values = {}
    for keyword in tree.keywords:
        if keyword.arg not in _FIELDS:
            raise ArchitectureError(f"unknown Genotype field {keyword.arg!r}")
        values[keyword.arg] = _literal(keyword.value, keyword.arg)
    missing = [f for f in _FIELDS if f not in values]
    if missing:
        raise ArchitectureError(f"Genotype lacks {', '.join(missing)}")
    for cell in ("normal", "reduce"):
        edges = values[cell]
        if not isinstance(edges, (list, tuple)) or not all(
            isinstance(e, (list, tuple)) and len(e) == 2 and isinstance(e[0], str) and isinstance(e[1], int)
            for e in edges
        ):
            raise ArchitectureError(f"{cell} must be a list of (operation, input) pairs")
        values[cell] = [(op, i) for op, i in edges]
        concat = values[f"{cell}_concat"]
        if not isinstance(concat, (list, tuple)) or not all(isinstance(i, int) for i in concat):
            raise ArchitectureError(f"{cell}_concat must list node numbers")
        values[f"{cell}_concat"] = list(concat)
    return Genotype(**values)


def _literal(node: ast.expr, field: str):
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "range"
        and not node.keywords
    ):
        try:
            nodes = range(*(_literal(a, field) for a in node.args))
            if len(nodes) > MAX_RANGE:
                raise ValueError(len(nodes))
        except (TypeError, ValueError, OverflowError):
            raise ArchitectureError(f"field {field!r} has an invalid range(...) (at most {MAX_RANGE} nodes)") from None
        return list(nodes)
    try:
        return ast.literal_eval(node)
    except ValueError:
        raise ArchitectureError(f"field {field!r} is not a literal") from None
