"""What the training commands (``train_cifar``, ``transfer_imagenet``, ``run_hpo``) share
beyond ``monas.cli.common`` (kept apart so that each module stays small): their common
flags and ``main``, the network-size check, seeded ``--*-limit`` subsets, and their
output folders: checked (``check_run_folder``: no link, no other kind of monas run),
planned with an ``OutPolicy`` (``plan_out``: trained anew, resumed with the same
settings, replaced, or left finished), started (``started_runs``) and finished
(``write_result``). Which networks and recipes: ``monas.cli.networks``; the TrainConfig
flags: ``monas.train.flags``.

Imports no torch; the functions that need it import it.
"""
from __future__ import annotations

import argparse
import contextlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from monas.cli.common import (
    RESUME,
    OneLineParser,
    OutPolicy,
    UsageError,
    add_dataset_flags,
    check_out_folder,
    run_command,
)
from monas.cli.networks import BEFORE_SPACES, add_source_flags, source_from_args
from monas.device import DEVICE_HELP
from monas.io import LOCK_FILE, RunClaim, RunDirError, atomic_write, refuse_links
from monas.search.record import RUN_FILES
from monas.train.config import BEST, BEST_FLAGS, CHECKPOINT, METRICS, RESUMABLE_CHANGES, TENSORBOARD, TRIALS

if TYPE_CHECKING:
    import numpy as np
    import torch

RUN, RESULT, FINAL = "run.json", "result.json", "final.json"
TRAINING_FILES = (RUN, RESULT, METRICS, CHECKPOINT, TENSORBOARD)
TUNING_FILES = ("config.json", TRIALS, BEST, BEST_FLAGS, FINAL)
# The files of each kind of monas run: a command never writes into a folder holding another kind's.
RUN_KINDS = {"search": RUN_FILES, "training": TRAINING_FILES, "tuning": TUNING_FILES}
MAX_PARAMS = 2_000_000_000  # networks beyond this exhaust memory long before they train


def training_parser(prog: str, description: str, dataset: bool = True) -> OneLineParser:
    """A training command's parser, holding the flags that choose the architectures
    (``monas.cli.networks.add_source_flags``) and, with ``dataset``, ``--dataset`` and
    ``--data-dir`` (``monas.cli.common.add_dataset_flags``)."""
    p = OneLineParser(prog=prog, description=description)
    add_source_flags(p)
    if dataset:
        add_dataset_flags(p)
    return p


def add_limit_flags(p: argparse.ArgumentParser, evaluation: str) -> None:
    """``--train-limit`` and ``--<evaluation>-limit`` (the evaluation split: test or val):
    seeded random subsets (``limit_subset``)."""
    p.add_argument("--train-limit", type=int, help="train on this many training images (a seeded random subset)")
    p.add_argument(f"--{evaluation}-limit", type=int,
                   help=f"evaluate on this many {evaluation} images (a seeded random subset)")


# The help of --out, --resume and --overwrite for each kind of run.
_OUTPUT_HELP = {
    "training": ("output folder; several architectures get one subfolder each",
                 "continue the run(s) in --out from their checkpoints", "replace runs already in --out"),
    "tuning": ("output folder", "continue the tuning in --out (may raise --time-budget and --max-trials); logged "
               "trials are replayed, not re-run", "replace a tuning run already in --out"),
}


def add_output_flags(p: argparse.ArgumentParser, default_out: str, kind: str = "training") -> None:
    """``--device``, ``--out`` (default ``default_out``), ``--resume`` and ``--overwrite``
    of a ``kind`` ("training" or "tuning") run."""
    out_help, resume_help, overwrite_help = _OUTPUT_HELP[kind]
    p.add_argument("--device", default="auto", help=f"{DEVICE_HELP} (default auto)")
    p.add_argument("--out", default=default_out, help=f"{out_help} (default {default_out})")
    p.add_argument("--resume", action="store_true", help=resume_help)
    p.add_argument("--overwrite", action="store_true", help=overwrite_help)


def training_main(prog: str, parser: argparse.ArgumentParser, argv: Sequence[str] | None,
                  work: Callable[[argparse.Namespace], int]) -> int:
    """A training command's exit code: ``argv`` parsed by ``parser``; with ``--list``
    the chosen architectures printed, else ``work(args)``; errors and Ctrl-C as in
    ``run_command``."""

    def run() -> int:
        args = parser.parse_args(argv)
        if args.list:
            print(source_from_args(args).listing())
            return 0
        return work(args)

    return run_command(prog, run, "continue with --resume")


def check_network_size(build: Callable[[], torch.nn.Module], what: str) -> None:
    """UsageError when the network ``build()`` makes has more than MAX_PARAMS parameters
    (counted on the meta device: nothing is allocated)."""
    import torch

    with torch.device("meta"):
        params = sum(p.numel() for p in build().parameters())
    if params > MAX_PARAMS:
        raise UsageError(f"{what} would have {params:.3g} parameters (more than {MAX_PARAMS:.0e}); give smaller "
                         "network settings (--net)")


def limit_subset(n: int, limit: int | None, seed: int, flag: str) -> np.ndarray:
    """The indices a ``--*-limit`` flag keeps of ``n`` images (``monas.data.seeded_subset``);
    UsageError naming ``flag`` when it is out of range."""
    from monas.data import seeded_subset

    try:
        return seeded_subset(n, limit, seed)
    except ValueError as exc:
        raise UsageError(f"{flag} {exc}") from None


def read_json_object(path: Path) -> dict:
    """The JSON object in ``path``; RunDirError when it is unreadable or not an object."""
    try:
        value = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise RunDirError(f"{path} is unreadable ({type(exc).__name__}); start again with --overwrite") from None
    if not isinstance(value, dict):
        raise RunDirError(f"{path} is not a JSON object; start again with --overwrite")
    return value


def recorded_settings(path: Path, wanted: dict, changeable: Sequence[str], doing: str) -> dict:
    """The settings a run recorded in the JSON file ``path`` (those of a run older than
    other spaces: ``BEFORE_SPACES`` implied), checked to be ``wanted`` but for
    ``changeable``; UsageError ("<folder> <doing> key=recorded, not wanted") otherwise."""
    recorded = {**BEFORE_SPACES, **read_json_object(path)}
    for key, value in wanted.items():
        if key not in changeable and recorded.get(key) != value:
            raise UsageError(f"{path.parent} {doing} {key}={recorded.get(key)!r}, not {value!r}; "
                             "resume with the run's own settings")
    return recorded


def check_run_folder(out: Path, kind: str, prog: str) -> None:
    """UsageError or RunDirError unless ``out`` can take a ``kind`` run (RUN_KINDS) of
    ``prog``: a folder this process may create or write, no symbolic link among the
    run's files and lock, no file of another kind of monas run. Changes nothing."""
    check_out_folder(str(out))
    own = RUN_KINDS[kind]
    refuse_links(out, [*own, LOCK_FILE])
    others = [name for files in RUN_KINDS.values() for name in files if name not in own]
    found = [name for name in others if (out / name).exists()] if out.is_dir() else []
    if found:
        raise RunDirError(f"{out} holds another kind of monas run ({found[0]}), not {prog}; give another --out")


@dataclass
class FolderPlan:
    """What to do with one output folder: ``finished`` (a finished run to leave as it
    is), or train into it: writing run.json first (``fresh``, after moving the old
    files ``replace`` aside) or continuing its checkpoint."""

    folder: Path
    finished: bool = False
    fresh: bool = True
    replace: tuple[str, ...] = ()

    def start(self) -> RunClaim:
        """The folder's RunClaim: locked; on a fresh start the old files set aside and
        the new ones removed again if the run fails before its first checkpoint."""
        return RunClaim(self.folder, fresh=self.fresh, files=TRAINING_FILES, replace=self.replace)


def plan_out(out: Path, describe: dict, policy: OutPolicy, prog: str) -> FolderPlan:
    """Check ``out`` for training ``describe`` into it (changing nothing):
    ``check_run_folder``, then a run already there (a checkpoint or a result) as
    ``policy`` says: resumed (its run.json must match ``describe``, training settings
    other than RESUMABLE_CHANGES included), replaced or refused. A folder holding
    run.json alone is a start that never trained: trained anew."""
    check_run_folder(out, "training", prog)
    progress = [name for name in (CHECKPOINT, RESULT) if (out / name).exists()]
    if policy.decide(out, progress, "a training run") == RESUME and progress:
        recorded = recorded_settings(out / RUN, describe, ("config",), "trains")
        saved = recorded.get("config") if isinstance(recorded.get("config"), dict) else {}
        for key, value in describe["config"].items():
            if key not in RESUMABLE_CHANGES and saved.get(key) != value:
                hint = ("a finished run is not extended (its schedule ends there); train anew with --overwrite"
                        if (out / RESULT).exists() and key == "epochs" else "resume with the run's own settings")
                raise UsageError(f"{out} was trained with {key}={saved.get(key)!r}, not {value!r}; {hint}")
        return FolderPlan(out, finished=(out / RESULT).exists(), fresh=False)
    return FolderPlan(out, replace=tuple(name for name in TRAINING_FILES if (out / name).exists()))


@contextlib.contextmanager
def started_runs(plans: Sequence[FolderPlan], describes: Sequence[dict]):
    """Start every unfinished planned folder (RunClaim each, run.json written on a fresh
    start) and yield their RunClaims, keyed by folder; all are undone if any start fails."""
    with contextlib.ExitStack() as stack:
        starts = {}
        for plan, describe in zip(plans, describes):
            if plan.finished:
                continue
            starts[plan.folder] = stack.enter_context(plan.start())
            if plan.fresh:
                atomic_write(plan.folder / RUN, json.dumps(describe, indent=2) + "\n")
        yield starts


def write_result(out: Path, describe: dict, result, macs: int, params: int) -> dict:
    """Write result.json: what was trained, final test accuracy, MACs, params, time."""
    summary = {
        **describe,
        "test_accuracy": result.test_accuracy,
        "test_top5": result.test_top5,
        "test_loss": result.test_loss,
        "params": params,
        "macs": macs,
        "epochs": result.epochs,
        "steps": result.steps,
        "seconds": result.seconds,
        "train_seconds": result.train_seconds,
        "stopped_early": result.stopped_early,
        "prediction": result.prediction,
    }
    atomic_write(out / RESULT, json.dumps(summary, indent=2) + "\n")
    return summary
