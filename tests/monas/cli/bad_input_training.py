"""Shared pieces of the bad-input tables of the training commands: a snapshot of a run
folder, the check that a command refused with one line and changed nothing, and small
image folders (one image corrupt or truncated on request)."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np

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


def snapshot(root: Path) -> dict[str, bytes | str]:
    """Every entry under ``root``: file bytes, link targets, folders (as "dir")."""
    entries: dict[str, bytes | str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            key = str(path.relative_to(root))
            if path.is_symlink():
                entries[key] = "link:" + os.readlink(path)
            elif path.is_dir():
                entries[key] = "dir"
            else:
                entries[key] = path.read_bytes()
    return entries


def assert_refused(code: int, err: str, prog: str, message: str) -> None:
    """Exit 2, exactly one line on stderr starting ``prog: error:`` and holding ``message``."""
    assert code == 2, err
    assert "Traceback" not in err
    assert err.count("\n") == 1 and err.startswith(f"{prog}: error:"), err
    assert message in err, err


def image_folder(root: Path, splits: tuple[str, ...], classes: int = 2, per_class: int = 8, size: int = 32,
                 damage: str | None = None) -> Path:
    """An ImageFolder tree ``root/<split>/c<k>/<i>.png`` of random RGB images; ``damage``
    "corrupt" (not an image) or "truncated" (half a PNG) spoils the first image of the
    first split. Returns the damaged file's folder root."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for split in splits:
        for c in range(classes):
            folder = root / split / f"c{c}"
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(per_class):
                pixels = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(folder / f"{i}.png")
    first = root / splits[0] / "c0" / "0.png"
    if damage == "corrupt":
        first.write_bytes(b"this is not an image")
    elif damage == "truncated":
        first.write_bytes(first.read_bytes()[: first.stat().st_size // 2])
    return root


def copy_run(source: Path, target: Path) -> Path:
    """A copy of the run folder ``source`` at ``target``."""
    shutil.copytree(source, target, symlinks=True)
    return target
