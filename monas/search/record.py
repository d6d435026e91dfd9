"""The run directory: the only code that writes it, always so that a kill at any moment
leaves every file either as it was or complete.

Files: ``config.json``, ``archive.jsonl`` (one line per evaluated network, appended and
fsynced as each finishes), ``generations.csv``, ``pareto.json``, ``pareto.png`` and
``checkpoint.json`` (the search state after the last finished generation, as data:
``monas.search.state``). Files are
written through ``monas.io``; ``RunRecord`` with another list of ``files`` also serves
tuning runs (``monas.tune.driver``).
"""
from __future__ import annotations

import csv
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from monas.errors import RunDirError
from monas.io import append_line, atomic_write, discard_interrupted_writes, read_lines

if TYPE_CHECKING:
    from monas.search.evaluation import Evaluation

CONFIG, ARCHIVE, GENERATIONS, PARETO, PLOT, CHECKPOINT = (
    "config.json",
    "archive.jsonl",
    "generations.csv",
    "pareto.json",
    "pareto.png",
    "checkpoint.json",
)
OLD_CHECKPOINT = "checkpoint.pkl"  # monas before the data-only checkpoint: never unpickled
RUN_FILES = (CONFIG, ARCHIVE, GENERATIONS, PARETO, PLOT, CHECKPOINT, OLD_CHECKPOINT)
GENERATION_COLUMNS = ("generation", "evaluations", "front_size", "hypervolume", "seconds")
_INT_COLUMNS = {"generation": int, "evaluations": int, "front_size": int}


@dataclass
class RunRecord:
    """Reads and writes one run directory."""

    path: Path

    @staticmethod
    def check_new(path: str | os.PathLike, overwrite: bool = False, files: tuple[str, ...] = RUN_FILES) -> list[str]:
        """The run files (``files``) already in ``path`` (to be replaced); RunDirError when
        ``path`` is a file, or holds a run and ``overwrite`` is not set. Changes nothing."""
        path = Path(path)
        if path.exists() and not path.is_dir():
            raise RunDirError(f"--out {path} is a file, not a folder")
        existing = [name for name in files if (path / name).exists()]
        if existing and not overwrite:
            raise RunDirError(f"{path} already holds a run ({existing[0]}); pass --resume {path} to continue it or --overwrite to replace it")
        return existing

    @classmethod
    def create(cls, path: str | os.PathLike, overwrite: bool = False, files: tuple[str, ...] = RUN_FILES) -> "RunRecord":
        """A fresh run in ``path``; refuses a folder holding another run (any of ``files``)
        unless ``overwrite``, and then deletes those files."""
        existing = cls.check_new(path, overwrite, files)
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        for name in existing:
            (path / name).unlink()
        return cls(path)

    @classmethod
    def open(cls, path: str | os.PathLike) -> "RunRecord":
        """An existing run, for resuming or reading."""
        path = Path(path)
        if not (path / CONFIG).is_file():
            raise RunDirError(f"{path} holds no monas run (no {CONFIG})")
        return cls(path)

    def discard_interrupted_writes(self) -> None:
        """Remove temporary files of writes a kill interrupted (call only when no other
        process is writing this run, i.e. on resume)."""
        discard_interrupted_writes(self.path)

    # --- config ---------------------------------------------------------------------
    def write_config(self, config: dict) -> None:
        """Write the resolved configuration."""
        atomic_write(self.path / CONFIG, json.dumps(config, indent=2, sort_keys=True) + "\n")

    def read_config(self) -> dict:
        """The recorded configuration."""
        try:
            return json.loads((self.path / CONFIG).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise RunDirError(f"{self.path / CONFIG} is unreadable: {exc}") from None

    # --- archive --------------------------------------------------------------------
    def append_evaluation(self, evaluation: Evaluation) -> None:
        """Append one archive line and fsync it, in a single write."""
        append_line(self.path / ARCHIVE, evaluation.to_json())

    def read_archive(self) -> list[Evaluation]:
        """Every complete archive line; a torn last line (a kill mid-write) is dropped."""
        from monas.search.evaluation import Evaluation  # imports torch: only where an archive is read

        return read_lines(self.path / ARCHIVE, Evaluation.from_json)

    # --- per-generation statistics, front and plot ----------------------------------
    def write_generations(self, rows: list[dict]) -> None:
        """Rewrite generations.csv with ``rows`` (keys: GENERATION_COLUMNS)."""
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=GENERATION_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        atomic_write(self.path / GENERATIONS, buffer.getvalue())

    def read_generations(self) -> list[dict]:
        """generations.csv as dicts of numbers."""
        with open(self.path / GENERATIONS, newline="") as f:
            return [{k: _INT_COLUMNS.get(k, float)(v) for k, v in row.items()} for row in csv.DictReader(f)]

    def write_pareto(self, pareto: dict) -> None:
        """Write pareto.json."""
        atomic_write(self.path / PARETO, json.dumps(pareto, indent=2) + "\n")

    def read_pareto(self) -> dict:
        """The recorded pareto.json."""
        return json.loads((self.path / PARETO).read_text())

    def write_figure(self, figure: Any, name: str = PLOT) -> None:
        """Save a matplotlib figure as PNG."""
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=120, bbox_inches="tight")
        atomic_write(self.path / name, buffer.getvalue())

    # --- checkpoint -----------------------------------------------------------------
    def write_checkpoint(self, state: dict) -> None:
        """Write the search state (JSON data, see ``monas.search.state``) atomically."""
        atomic_write(self.path / CHECKPOINT, json.dumps(state, sort_keys=True, allow_nan=False) + "\n")

    def read_checkpoint(self) -> dict | None:
        """The last checkpoint as parsed JSON (validated when restored), or None when the
        run stopped before its first generation. A pickled checkpoint of an older monas
        is refused unread: loading a pickle can run code."""
        if (self.path / OLD_CHECKPOINT).exists():
            raise RunDirError(
                f"{self.path} was written by an older monas ({OLD_CHECKPOINT}) and cannot be resumed safely; start a new run"
            )
        path = self.path / CHECKPOINT
        if not path.exists():
            return None
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
            raise RunDirError(f"{path} is not a readable checkpoint ({type(exc).__name__}); start a new run") from None
