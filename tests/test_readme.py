"""Every README command that works offline (it uses ``digits``, the quick start's run or the notebook)
runs, in the README's order, in a fresh folder, at a tiny size.

The commands are read from the README's ``bash`` blocks, so a README command that breaks
fails here. ``pip install`` steps (the set-up) are skipped, as are commands that need
data outside the repository (``../shared``, ``/data``). Sizes are made tiny by one
rule: for ``run_nsga`` and ``evaluate`` on the darts space, ``-S init_channels`` and
``-S layers`` become 4 and 3, and for ``run_nsga`` ``--pop-size`` and ``--generations``
become 4 and 2 (set when the command does not give them); for ``check_estimator``,
``--n`` and ``--epochs`` become 4 and 1 and nb201 gets ``-S channels=4 -S
cells_per_stage=1``. Everything else, the dataset, the estimator and its default
settings included, runs as written.
"""
from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys


from tests.conftest import ROOT

OFFLINE = ("digits", "runs/quickstart", "notebooks/")
NEEDS_DATA = ("../shared", "/data")
TINY_SPACE = {"init_channels": "4", "layers": "3"}
TINY_SEARCH = {"--pop-size": "4", "--generations": "2"}
TINY_CHECK = {"--n": "4", "--epochs": "1"}
TINY_NB201 = ["-S", "channels=4", "-S", "cells_per_stage=1"]


def readme_commands() -> list[list[str]]:
    """argv of every offline command of the README's bash blocks, in order."""
    text = (ROOT / "README.md").read_text()
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            for part in line.split("&&"):
                argv = shlex.split(part, comments=True)
                if not argv or argv[:2] == ["pip", "install"] or "..." in argv:
                    continue
                joined = " ".join(argv)
                if any(o in joined for o in OFFLINE) and not any(d in joined for d in NEEDS_DATA):
                    commands.append(argv)
    return commands


def tiny(argv: list[str]) -> list[str]:
    """``argv`` at the test's tiny size (the rule of the module docstring)."""
    script = argv[1] if len(argv) > 1 else ""
    if script.endswith("check_estimator.py"):
        out = [TINY_CHECK.get(argv[i - 1], a) if i else a for i, a in enumerate(argv)]
        return out + TINY_NB201 if out[out.index("--space") + 1] == "nb201" else out
    if not script.endswith(("run_nsga.py", "evaluate.py")):
        return argv
    out, given = [], set()
    i = 0
    while i < len(argv):
        flag, value = argv[i], argv[i + 1] if i + 1 < len(argv) else None
        if flag in ("-S", "--space-option") and value and value.split("=")[0] in TINY_SPACE:
            key = value.split("=")[0]
            out += [flag, f"{key}={TINY_SPACE[key]}"]
            given.add(key)
            i += 2
        elif script.endswith("run_nsga.py") and flag in TINY_SEARCH:
            out += [flag, TINY_SEARCH[flag]]
            given.add(flag)
            i += 2
        else:
            out.append(flag)
            i += 1
    darts = "--space" not in out or out[out.index("--space") + 1] == "darts"
    if darts:
        out += [a for key, v in TINY_SPACE.items() if key not in given for a in ("-S", f"{key}={v}")]
    if script.endswith("run_nsga.py"):
        out += [a for flag, v in TINY_SEARCH.items() if flag not in given for a in (flag, v)]
    return out


def test_the_readme_lists_the_offline_commands():
    scripts = [argv[1] for argv in readme_commands() if argv[0] == "python" and argv[1].startswith("experiments/")]
    assert scripts[0] == "experiments/run_nsga.py"  # the quick start comes first
    assert {"experiments/run_nsga.py", "experiments/evaluate.py", "experiments/train_cifar.py"} <= set(scripts)


def test_tiny_rewrites_only_sizes():
    argv = shlex.split("python experiments/run_nsga.py --space darts --dataset digits -S init_channels=8 --pop-size 10 --out x")
    assert tiny(argv) == shlex.split(
        "python experiments/run_nsga.py --space darts --dataset digits -S init_channels=4 --pop-size 4 --out x "
        "-S layers=3 --generations 2"
    )


def test_every_offline_readme_command_runs(tmp_path):
    for name in ("experiments", "monas", "search_spaces"):  # a checkout whose runs/ and notebooks/ are the test's
        (tmp_path / name).symlink_to(ROOT / name)
    shutil.copytree(ROOT / "notebooks", tmp_path / "notebooks")
    for argv in readme_commands():
        command = tiny(argv)
        if command[0] == "python":
            command[0] = sys.executable
        shell = shlex.join(command)
        if ">" in argv:  # a redirection, as written in the README
            at = command.index(">")
            shell = f"{shlex.join(command[:at])} > {shlex.quote(command[at + 1])}"
        proc = subprocess.run(shell, shell=True, cwd=tmp_path, capture_output=True, text=True, timeout=600,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert proc.returncode == 0, f"{shlex.join(argv)}\n{proc.stderr[-2000:]}"
        assert "Traceback" not in proc.stderr
    assert (tmp_path / "runs" / "quickstart" / "pareto.png").exists()
    assert (tmp_path / "notebooks" / "pareto_front_quickstart.ipynb").exists()  # the headless notebook run
