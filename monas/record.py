"""The run directory: the only code that writes it, always so that a kill at any moment
leaves every file either as it was or complete.

Files: ``config.json``, ``archive.jsonl`` (one line per evaluated network, appended and
fsynced as each finishes), ``generations.csv``, ``pareto.json``, ``pareto.png`` and
``checkpoint.pkl`` (the search state after the last finished generation). The same
helpers (``atomic_write``, ``append_line``/``read_lines`` for JSON-lines logs, and
``RunRecord`` with another list of ``files``) write tuning runs (``monas.tuning``).
"""
from __future__ import annotations

import csv
import io
import json
import os
import pickle
import signal
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from monas.errors import RunDirError

if TYPE_CHECKING:
    from monas.evaluation import Evaluation

CONFIG, ARCHIVE, GENERATIONS, PARETO, PLOT, CHECKPOINT = (
    "config.json",
    "archive.jsonl",
    "generations.csv",
    "pareto.json",
    "pareto.png",
    "checkpoint.pkl",
)
RUN_FILES = (CONFIG, ARCHIVE, GENERATIONS, PARETO, PLOT, CHECKPOINT)
GENERATION_COLUMNS = ("generation", "evaluations", "front_size", "hypervolume", "seconds")
_INT_COLUMNS = {"generation": int, "evaluations": int, "front_size": int}
CHECKPOINT_FORMAT = "monas-checkpoint-1"
TMP_SUFFIX = ".tmp"
_UMASK = os.umask(0)
os.umask(_UMASK)


_writes: dict[str, int] = {}


def _injected_kill(name: str, f, payload: bytes) -> None:
    """Fault injection for the kill tests: with ``MONAS_KILL_DURING=<file>:<n>`` the
    process SIGKILLs itself halfway through the n-th write of that file."""
    target, _, nth = os.environ.get("MONAS_KILL_DURING", "").partition(":")
    if target != name:
        return
    _writes[name] = _writes.get(name, 0) + 1
    if str(_writes[name]) == nth:
        f.write(payload[: len(payload) // 2])
        f.flush()
        os.kill(os.getpid(), signal.SIGKILL)


def atomic_write(path: Path, data: bytes | str) -> None:
    """Replace ``path`` with ``data`` via a fsynced temporary file in the same folder."""
    payload = data.encode() if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TMP_SUFFIX)
    try:
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp creates 0600; give the usual file mode
        with os.fdopen(fd, "wb") as f:
            _injected_kill(path.name, f, payload)
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def append_line(path: Path, record: dict) -> None:
    """Append ``record`` to the JSON-lines file ``path`` as one line, in a single write,
    and fsync it: after a kill the file ends with the complete line or a torn one."""
    line = json.dumps(record, sort_keys=True) + "\n"
    with open(path, "a", encoding="utf-8") as f:
        f.write(line)
        f.flush()
        os.fsync(f.fileno())


def read_lines(path: Path, parse: Callable[[dict], Any] = dict) -> list:
    """``parse`` of every complete line of the JSON-lines file ``path`` ([] when it does
    not exist); a torn last line (a kill mid-write) is dropped, any other bad line is a
    RunDirError."""
    if not path.exists():
        return []
    records = []
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    for number, line in enumerate(lines, 1):
        try:
            records.append(parse(json.loads(line)))
        except (json.JSONDecodeError, TypeError, KeyError, ValueError) as exc:
            if number == len(lines) and not line.endswith("\n"):
                break
            raise RunDirError(f"{path} line {number} is corrupt: {exc}") from None
    return records


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
            raise RunDirError(f"--out {path} already holds a run ({existing[0]}); pass --resume {path} to continue it or --overwrite to replace it")
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
        for leftover in self.path.glob(f".*{TMP_SUFFIX}"):
            leftover.unlink()

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
        from monas.evaluation import Evaluation  # imports torch: only where an archive is read

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
        """Pickle the search state (algorithm, generation rows) atomically."""
        atomic_write(self.path / CHECKPOINT, pickle.dumps({"format": CHECKPOINT_FORMAT, **state}))

    def read_checkpoint(self) -> dict | None:
        """The last checkpoint, or None when the run stopped before its first generation."""
        path = self.path / CHECKPOINT
        if not path.exists():
            return None
        try:
            state = pickle.loads(path.read_bytes())
        except Exception as exc:  # noqa: BLE001 - any unpickling failure means a bad file
            raise RunDirError(f"{path} is not a readable checkpoint ({type(exc).__name__}); start a new run") from None
        if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
            raise RunDirError(f"{path} is not a monas checkpoint; start a new run")
        return state
