"""Tuning on pruned proxies: time saved, and the accuracy of what the proxy chose.

Runs ``run_hpo`` twice on the same genotype, data, seed and number of trials: once
training every trial on the full network, once on a copy with a share ``--ratio`` of
its channels removed (``--proxy prune:R``). Each run ends by training the FULL network
with its chosen configuration on all training images and testing it. Reports the
tuning seconds of both (``time_saved`` = 1 - proxy / full), the full network's test
accuracy with each chosen configuration (``acc_gap_pp`` = full-tuned minus
proxy-tuned, percentage points; positive means the proxy chose worse) and the two
networks' MACs and seconds per epoch at the proxy's chosen configuration.

NOMAD sees different objective values in the two runs, so it visits different
configurations (epochs and batch size among them): the time saved mixes the proxy's
cheaper epochs with the different trials it led NOMAD to.

    python benchmarks/prune_proxy.py [--trials 8] [--ratio 0.5] [--data-dir ../shared/data/cifar10]

Ends with ``time_saved=<f> acc_gap_pp=<f>``.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from monas.cli.hpo import main  # noqa: E402
from monas.cli.training import FINAL  # noqa: E402
from search_spaces.darts.genotypes import DARTS_V2  # noqa: E402


def main_benchmark() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--genotype", default=DARTS_V2, help="DARTS genotype (default DARTS V2)")
    p.add_argument("--data-dir", default=str(Path(__file__).resolve().parents[2] / "shared" / "data" / "cifar10"))
    p.add_argument("--n-train", type=int, default=1000)
    p.add_argument("--n-test", type=int, default=500)
    p.add_argument("--init-channels", type=int, default=8)
    p.add_argument("--layers", type=int, default=5)
    p.add_argument("--max-epochs", type=int, default=3)
    p.add_argument("--trials", type=int, default=8)
    p.add_argument("--ratio", type=float, default=0.5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1: steady timings on a shared CPU)")
    p.add_argument("--out", help="folder for the two runs (default: a temporary one)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    root = Path(args.out or tempfile.mkdtemp(prefix="prune_proxy_"))
    common = ["--genotype", args.genotype, "--data-dir", args.data_dir, "--n-train", str(args.n_train),
              "--n-test", str(args.n_test), "--init-channels", str(args.init_channels), "--layers", str(args.layers),
              "--max-epochs", str(args.max_epochs), "--max-trials", str(args.trials), "--time-budget", "1e9",
              "--seed", str(args.seed), "--device", "cpu", "--overwrite"]
    results = {}
    for name, extra in (("full", []), ("proxy", ["--proxy", f"prune:{args.ratio}"])):
        if main([*common, *extra, "--out", str(root / name)]) != 0:
            sys.exit(f"prune_proxy: the {name} tuning run failed")
        results[name] = json.loads((root / name / FINAL).read_text())
    full, proxy = results["full"], results["proxy"]
    time_saved = 1.0 - proxy["tuning_seconds"] / full["tuning_seconds"]
    gap = full["test_accuracy"] - proxy["test_accuracy"]
    print(f"tuning seconds: full {full['tuning_seconds']:.1f}, proxy {proxy['tuning_seconds']:.1f} "
          f"({args.trials} trials each)")
    print(f"full-network test accuracy: tuned on full {full['test_accuracy']:.2f}%, tuned on proxy "
          f"{proxy['test_accuracy']:.2f}%")
    p_cost = proxy["proxy"]
    print(f"MACs: full {proxy['macs'] / 1e6:.2f}M, proxy {p_cost['macs'] / 1e6:.2f}M "
          f"({p_cost['macs'] / proxy['macs']:.3f}); s/epoch at the proxy's chosen configuration: full "
          f"{proxy['seconds_per_epoch']:.2f}, proxy {p_cost['seconds_per_epoch']:.2f} "
          f"({p_cost['seconds_per_epoch'] / proxy['seconds_per_epoch']:.3f})")
    print(f"time_saved={time_saved:.3f} acc_gap_pp={gap:.2f}")


if __name__ == "__main__":
    main_benchmark()
