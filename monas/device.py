"""Which torch device to run on: the one place where a ``--device`` value (auto, cpu,
cuda, cuda:N) is checked and turned into a torch device. Imports torch only when
called, so that the commands can check their flags before importing it."""
from __future__ import annotations

from typing import TYPE_CHECKING

from monas.errors import UsageError

if TYPE_CHECKING:
    import torch

DEVICE_HELP = "auto (CUDA when present), cpu, cuda or cuda:N"


def resolve_device(name: str, flag: str = "--device") -> torch.device:
    """``auto`` is CUDA when present, else CPU; anything else the torch device ``name``.
    UsageError (one line naming ``flag``) unless that is the CPU or a CUDA device this
    machine has."""
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        device = None
    if device is None or device.type not in ("cpu", "cuda"):
        raise UsageError(f"unknown {flag} {name!r} (auto, cpu, cuda or cuda:N)")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UsageError(f"{flag} {name} asked for, but no CUDA device is available; use {flag} cpu or auto")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise UsageError(f"{flag} {name}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    return device
