"""Helpers of the bad-input tables: a tree's fingerprint (content, mtime, link target of
every entry) to show that a refused command changed nothing, image folders with broken
files, and the assertion every refused command must meet."""
from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import numpy as np


def fingerprint(root: Path) -> dict:
    """{relative path: (kind, content hash or link target, mtime_ns)} of everything under ``root``."""
    found = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(folder) / name
            stat = path.lstat()
            if path.is_symlink():
                found[str(path.relative_to(root))] = ("link", os.readlink(path), stat.st_mtime_ns)
            elif path.is_file():
                found[str(path.relative_to(root))] = ("file", hashlib.sha256(path.read_bytes()).hexdigest(), stat.st_mtime_ns)
            else:
                found[str(path.relative_to(root))] = ("dir", None, None)
    return found


def copy_run(run: Path, to: Path) -> Path:
    """A copy of the run folder ``run`` (contents and mtimes)."""
    shutil.copytree(run, to, copy_function=shutil.copy2)
    return to


def image_folder(root: Path, broken: str | None = None, n: int = 3, size: int = 16) -> Path:
    """An ImageFolder tree of two classes with ``n`` PNGs each; ``broken`` = "corrupt"
    (not an image) or "truncated" (half a PNG) spoils the last image of class b."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for label in ("a", "b"):
        (root / label).mkdir(parents=True)
        for i in range(n):
            Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(root / label / f"{i}.png")
    last = root / "b" / f"{n - 1}.png"
    if broken == "corrupt":
        last.write_bytes(b"this is not an image")
    elif broken == "truncated":
        last.write_bytes(last.read_bytes()[: last.stat().st_size // 2])
    return root


def assert_refused(code: int, err: str, prog: str, message: str) -> None:
    """Exit 2, exactly one stderr line starting with ``prog: error:`` and holding ``message``."""
    assert code == 2, err
    assert err.count("\n") == 1 and err.endswith("\n"), err
    assert err.startswith(f"{prog}: error: ") and "Traceback" not in err, err
    assert message in err, err
