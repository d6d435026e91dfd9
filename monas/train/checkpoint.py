"""A training run's checkpoint: written atomically, read back checked, and every random
generator's state in it.

A checkpoint holds data only (tensors, dicts, lists, strings, numbers, booleans and
None; the numpy and python generator states converted to these) and is read with
``torch.load(weights_only=True)``, so resuming a run folder never runs code from it.
It records the run's ``TrainConfig`` and number of processes: a resumption with other
settings (other than ``RESUMABLE_CHANGES``) or another number of processes is refused.
"""
from __future__ import annotations

import io
import pickle
import random
import zipfile
from dataclasses import asdict, fields
from pathlib import Path

import numpy as np
import torch

from monas.io import atomic_write
from monas.train.config import RESUMABLE_CHANGES, TrainConfig

CHECKPOINT_FORMAT = "monas-train-2"  # monas-train-1 pickled numpy and python objects


class TrainingStateError(ValueError):
    """A checkpoint that cannot be resumed as asked; the message says why."""


def write_checkpoint(path: Path, config: TrainConfig, world: int, state: dict) -> None:
    """Replace ``path`` atomically with ``state`` (model, optimizer, scaler, progress,
    rng: tensors and plain data) stamped with the format, ``config`` and ``world``."""
    payload = {"format": CHECKPOINT_FORMAT, "config": asdict(config), "world_size": world, **state}
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    atomic_write(path, buffer.getvalue())


def read_checkpoint(path: Path, config: TrainConfig, world: int) -> dict:
    """The checkpoint at ``path``, loaded weights-only (no object of the file is built
    by running code), checked against ``config`` and the number of processes;
    TrainingStateError saying why when it cannot be resumed."""
    try:
        if not zipfile.is_zipfile(path):  # what torch.save writes; anything else is damaged or foreign
            raise ValueError("not a torch.save archive")
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise TrainingStateError(
            f"{path} holds objects other than tensors and plain data: a checkpoint of an older monas format "
            f"(before {CHECKPOINT_FORMAT}) or not a monas checkpoint; monas does not load it (start again with --overwrite)"
        ) from None
    except Exception as exc:  # noqa: BLE001 - any unreadable file means the same to the user
        raise TrainingStateError(f"{path} is not a readable checkpoint ({type(exc).__name__})") from None
    if not isinstance(saved, dict) or not isinstance(saved.get("config"), dict) or saved.get("format") != CHECKPOINT_FORMAT:
        found = saved.get("format") if isinstance(saved, dict) else None
        raise TrainingStateError(f"{path} is not a monas training checkpoint of format {CHECKPOINT_FORMAT} (found {found!r}); "
                                 "start again with --overwrite")
    now = asdict(config)
    changed = [f.name for f in fields(TrainConfig) if f.name not in RESUMABLE_CHANGES and saved["config"].get(f.name) != now[f.name]]
    if changed:
        name = changed[0]
        raise TrainingStateError(f"{path} was trained with {name}={saved['config'].get(name)!r}, not {now[name]!r}; "
                                 "resume with the run's own settings")
    if saved.get("world_size") != world:
        raise TrainingStateError(f"{path} was written by {saved.get('world_size')} processes; resume with as many, not {world}")
    return saved


def seed_everything(seed: int, rank: int) -> None:
    """Seed python's, numpy's and torch's global generators from ``seed`` and the rank."""
    seed = seed * 1_000 + rank
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def rng_state(device: torch.device) -> dict:
    """Every generator's state as tensors and plain data (what weights-only loading
    accepts): numpy's MT19937 key as an int64 tensor, python's state as a list."""
    numpy_state = np.random.get_state(legacy=False)
    version, internal, gauss_next = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state(device) if device.type == "cuda" else None,
        "numpy": {
            "bit_generator": numpy_state["bit_generator"],
            "key": torch.from_numpy(numpy_state["state"]["key"].astype(np.int64)),
            "pos": int(numpy_state["state"]["pos"]),
            "has_gauss": int(numpy_state["has_gauss"]),
            "gauss": float(numpy_state["gauss"]),
        },
        "python": {"version": version, "internal": list(internal), "gauss_next": gauss_next},
    }


def set_rng_state(saved: dict, device: torch.device) -> None:
    """Put every generator back to ``saved`` (what ``rng_state`` returned)."""
    torch.set_rng_state(saved["torch"])
    if device.type == "cuda" and saved["cuda"] is not None:
        torch.cuda.set_rng_state(saved["cuda"], device)
    numpy_state = saved["numpy"]
    np.random.set_state({
        "bit_generator": numpy_state["bit_generator"],
        "state": {"key": numpy_state["key"].numpy().astype(np.uint32), "pos": numpy_state["pos"]},
        "has_gauss": numpy_state["has_gauss"],
        "gauss": numpy_state["gauss"],
    })
    python_state = saved["python"]
    random.setstate((python_state["version"], tuple(python_state["internal"]), python_state["gauss_next"]))
