"""A training run's metrics: ``metrics.csv`` rewritten atomically after each evaluation,
and TensorBoard events when tensorboard is installed."""
from __future__ import annotations

import csv
import io
from pathlib import Path

from monas.io import atomic_write
from monas.train.config import METRICS, TENSORBOARD

METRIC_COLUMNS = ("epoch", "step", "lr", "train_loss", "loss", "accuracy", "top5", "train_seconds")
_BOARD_SCALARS = ("lr", "train_loss", "loss", "accuracy", "top5")


class MetricsWriter:
    """Writes a run's history (rows of ``METRIC_COLUMNS``) into folder ``out``; a
    resumed run starting at ``step`` drops TensorBoard events logged after it."""

    def __init__(self, out: Path, step: int) -> None:
        self.path = out / METRICS
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            self.board = None
        else:
            self.board = SummaryWriter(str(out / TENSORBOARD), purge_step=step or None)

    def write(self, history: list[dict]) -> None:
        """Rewrite metrics.csv with ``history`` and log its last row's scalars."""
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=METRIC_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(history)
        atomic_write(self.path, buffer.getvalue())
        if self.board is not None:
            row = history[-1]
            for key in _BOARD_SCALARS:
                self.board.add_scalar(key, row[key], row["step"])
            self.board.flush()

    def close(self) -> None:
        """Close the TensorBoard writer (and its background thread)."""
        if self.board is not None:
            self.board.close()
