"""Tabulated ground truth: fully trained accuracies per architecture string, read from a
CSV such as NAS-Bench-201's (columns ``index``, ``arch_str``, accuracy columns)."""
from __future__ import annotations

import csv
import os
from functools import lru_cache
from pathlib import Path

DEFAULT_NB201_TABLE = Path(__file__).resolve().parents[2] / "shared" / "data" / "nb201" / "nb201_accuracy.csv"


class TableError(ValueError):
    """A table that is missing, malformed, or lacks an architecture or column."""


class AccuracyTable:
    """Rows of a benchmark table, looked up by architecture string or benchmark index."""

    def __init__(self, rows: list[dict[str, str]], path: str) -> None:
        self.path = path
        self.columns = list(rows[0]) if rows else []
        self._by_arch = {row["arch_str"]: row for row in rows}
        self._by_index = {int(row["index"]): row["arch_str"] for row in rows}

    def __len__(self) -> int:
        return len(self._by_arch)

    def archs(self) -> list[str]:
        """Every architecture string, in benchmark-index order."""
        return [self._by_index[i] for i in sorted(self._by_index)]

    def value(self, arch: str, column: str) -> float:
        """The ``column`` entry of ``arch``."""
        if column not in self.columns:
            raise TableError(f"{self.path} has no column {column!r} (columns: {', '.join(self.columns)})")
        try:
            return float(self._by_arch[arch][column])
        except KeyError:
            raise TableError(f"{arch!r} is not in {self.path}") from None

    def index_of(self, arch: str) -> int:
        """The benchmark index of ``arch``."""
        return int(self.value(arch, "index"))

    def arch_of(self, index: int) -> str:
        """The architecture string of benchmark index ``index``."""
        try:
            return self._by_index[index]
        except KeyError:
            raise TableError(f"index {index} is not in {self.path}") from None


@lru_cache(maxsize=4)
def load_table(path: str | os.PathLike = DEFAULT_NB201_TABLE) -> AccuracyTable:
    """Read (once per process) a table with at least ``index`` and ``arch_str`` columns."""
    try:
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
    except OSError as exc:
        raise TableError(f"cannot read accuracy table {path}: {exc.strerror}") from None
    if not rows or not {"index", "arch_str"} <= set(rows[0]):
        raise TableError(f"{path} is not an accuracy table (needs index and arch_str columns)")
    return AccuracyTable(rows, str(path))
