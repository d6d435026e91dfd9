"""Helpers of the bad-input tables of every command: a tree's fingerprint (content,
mtime, link target of every entry) to show that a refused command changed nothing, a
copy of a run folder, a file replaced by a symbolic link, image folders with a broken
file, a DARTS genotype with broken variants, and the assertion every refused command
must meet."""
from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import numpy as np

from monas.io import LOCK_FILE

GENOTYPE = (
    "Genotype(normal=[('sep_conv_3x3', 0), ('skip_connect', 1), ('max_pool_3x3', 0), ('dil_conv_3x3', 2)], "
    "normal_concat=[2, 3], reduce=[('avg_pool_3x3', 0), ('sep_conv_3x3', 1), ('skip_connect', 2), "
    "('max_pool_3x3', 0)], reduce_concat=[2, 3])"
)
# The same cells with one thing wrong each (the darts space's own checks reject them).
BAD_GENOTYPES = {
    "input out of range": GENOTYPE.replace("('dil_conv_3x3', 2)", "('dil_conv_3x3', 7)"),
    "empty concat": GENOTYPE.replace("normal_concat=[2, 3]", "normal_concat=[]"),
    "huge range concat": GENOTYPE.replace("normal_concat=[2, 3]", "normal_concat=range(2, 10**10)"),
    "unknown operation": GENOTYPE.replace("sep_conv_3x3", "conv_9x9"),
    "not a genotype": "Genotype(normal=[",
    "odd number of edges": GENOTYPE.replace(", ('dil_conv_3x3', 2)]", "]"),
}


def fingerprint(root: Path) -> dict:
    """{relative path: (kind, content hash or link target, mtime_ns)} of everything under
    ``root``; a lock file without its mtime (a training command that refuses a checkpoint
    once it holds the lock has written the same pid into it again)."""
    found = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(folder) / name
            mtime = None if name == LOCK_FILE else path.lstat().st_mtime_ns
            if path.is_symlink():
                found[str(path.relative_to(root))] = ("link", os.readlink(path), mtime)
            elif path.is_file():
                found[str(path.relative_to(root))] = ("file", hashlib.sha256(path.read_bytes()).hexdigest(), mtime)
            else:
                found[str(path.relative_to(root))] = ("dir", None, None)
    return found


def copy_run(source: Path, target: Path) -> Path:
    """A copy of the run folder ``source`` at ``target`` (contents, mtimes and links)."""
    shutil.copytree(source, target, symlinks=True)
    return target


def link(name: str, dangling: bool = False):
    """A setup that replaces ``name`` in a run folder by a symbolic link to a file outside
    it (``dangling``: to nothing)."""

    def make(run: Path) -> None:
        target = run.parent / f"outside-{name}"
        if not dangling:
            target.write_text("outside\n")
        if (run / name).exists():
            (run / name).unlink()
        (run / name).symlink_to(target)

    return make


def image_folder(root: Path, splits: tuple[str, ...] = ("",), classes: int = 2, per_class: int = 8, size: int = 32,
                 damage: str | None = None) -> Path:
    """An ImageFolder tree ``root/<split>/c<k>/<i>.png`` of random RGB images (split ""
    for ``root/c<k>/<i>.png``); ``damage`` "corrupt" (not an image) or "truncated" (half
    a PNG) spoils the first image of the first split. Returns ``root``."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for split in splits:
        for c in range(classes):
            folder = root / split / f"c{c}"
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(per_class):
                Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    first = root / splits[0] / "c0" / "0.png"
    if damage == "corrupt":
        first.write_bytes(b"this is not an image")
    elif damage == "truncated":
        first.write_bytes(first.read_bytes()[: first.stat().st_size // 2])
    return root


def assert_refused(code: int, err: str, prog: str, message: str) -> None:
    """Exit 2, exactly one stderr line starting with ``prog: error:`` and holding ``message``."""
    assert code == 2, err
    assert err.count("\n") == 1 and err.endswith("\n"), err
    assert err.startswith(f"{prog}: error: ") and "Traceback" not in err, err
    assert message in err, err
