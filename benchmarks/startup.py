"""Seconds from starting a command to its answer when there is nothing to compute:
``--help``, and the first error (an unknown flag; for run_nsga and evaluate also an
``--out`` that is taken), for every command in experiments/.

Each command runs as a subprocess, ``--repeats`` times, interleaved with
``python -c "import torch"`` (the floor a command that imports torch cannot beat), and
the median is reported, so one run shows all commands under the same machine load.

    python benchmarks/startup.py [--repeats 3]

One line per command and case:
``command=<name> case=<help|bad_flag|taken_out> seconds=<s> over_torch_import=<ratio>``,
after ``torch_import_seconds=<s>``.
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = ("run_nsga", "evaluate", "train_cifar", "transfer_imagenet", "run_hpo")


def cases(taken: Path) -> list[tuple[str, str, list[str]]]:
    """(command, case, argv) to time; ``taken`` is a file/run folder that already exists."""
    listed = [(c, "help", ["--help"]) for c in COMMANDS] + [(c, "bad_flag", ["--no-such-flag"]) for c in COMMANDS]
    listed += [
        ("run_nsga", "taken_out", ["--dataset", "digits", "--out", str(taken)]),
        ("evaluate", "taken_out", ["--space", "darts", "--genotypes", str(taken / "config.json"), "--out",
                                   str(taken / "config.json")]),
    ]
    return listed


def seconds(argv: list[str], expect: int) -> float:
    """Wall-clock seconds of ``python argv``; its exit code must be ``expect``."""
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, *argv], capture_output=True, text=True, cwd=ROOT)
    elapsed = time.perf_counter() - start
    if proc.returncode != expect:
        raise SystemExit(f"{' '.join(argv)} exited {proc.returncode}, expected {expect}: {proc.stderr[-500:]}")
    return elapsed


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeats", type=int, default=3, help="runs per case; the median is reported (default 3)")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        taken = Path(tmp)
        (taken / "config.json").write_text("{}\n")  # what makes a folder a run for --out
        listed = cases(taken)
        times: dict[tuple[str, str], list[float]] = {(c, k): [] for c, k, _ in listed}
        torch_times = []
        for _ in range(args.repeats):
            torch_times.append(seconds(["-c", "import torch"], 0))
            for command, case, argv in listed:
                times[command, case].append(seconds([str(ROOT / "experiments" / f"{command}.py"), *argv], 0 if case == "help" else 2))
    floor = statistics.median(torch_times)
    print(f"torch_import_seconds={floor:.2f}")
    for (command, case), values in times.items():
        median = statistics.median(values)
        print(f"command={command} case={case} seconds={median:.2f} over_torch_import={median / floor:.2f}")


if __name__ == "__main__":
    main()
