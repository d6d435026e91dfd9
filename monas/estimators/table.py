"""Tabulated accuracy: look the architecture up in a benchmark table instead of
estimating anything, so a search can be run against ground truth (NAS-Bench-201's
fully trained accuracies by default).
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from monas.accuracy_table import DEFAULT_NB201_TABLE, AccuracyTable, TableError, load_table
from monas.data import ScoringData
from monas.estimators.base import Estimator
from monas.registry import ESTIMATORS


@ESTIMATORS.register("table")
class TableLookup(Estimator):
    """``100 - column`` of the row whose ``arch_str`` is the architecture string, i.e.
    the tabulated error (%) when ``column`` holds an accuracy in %.

    The table is read when the estimator is made (once per process and path) and the
    column is checked then, so a wrong ``path`` or ``column`` fails before a search
    starts; an architecture missing from the table raises TableError (a ValueError).
    Needs no images (``n_train = n_val = 0``: ``data`` is None) and builds no network;
    ``seed`` is accepted, as by every estimator, and changes nothing.
    """

    name = "table"
    error_in_percent = True
    n_train = 0
    n_val = 0

    def __init__(self, path: str = str(DEFAULT_NB201_TABLE), column: str = "cifar10_test_acc_200ep", seed: int = 0) -> None:
        table = load_table(path)
        if column not in table.columns or column in ("index", "arch_str"):
            accuracy_columns = [c for c in table.columns if c not in ("index", "arch_str")]
            raise TableError(f"{path} has no accuracy column {column!r} (columns: {', '.join(accuracy_columns)})")
        self.path = path
        self.column = column
        self.seed = seed
        self._table: AccuracyTable = table

    def estimate(
        self, arch: str, build: Callable[[], nn.Module], data: ScoringData | None, device: torch.device
    ) -> float:
        return 100.0 - self._table.value(arch, self.column)
