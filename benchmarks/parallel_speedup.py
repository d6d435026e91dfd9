"""Wall-clock of one search generation on CIFAR-10 with 1 and with 2 local workers,
with RWE as the workload (seconds per network, as recorded before the default changed).

The same seed gives the same networks; the second run uses a local Dask cluster of
two single-threaded-per-core worker processes started by the search (the cluster's
start-up is outside the generation's time, as it is paid once per run).

    python benchmarks/parallel_speedup.py [--pop-size 8] [-S layers=8]

Ends with ``workers=2 speedup=<x>``.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from monas.cli.common import parse_options  # noqa: E402
from monas.search.driver import SearchConfig, run  # noqa: E402
from search_spaces import SPACES  # noqa: E402

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "cifar10"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-dir", default=str(DEFAULT_DATA))
    p.add_argument("--pop-size", type=int, default=8)
    p.add_argument("-S", "--space-option", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("-E", "--estimator-option", action="append", default=[], metavar="KEY=VALUE")
    args = p.parse_args()
    space_options = parse_options(args.space_option, SPACES.get("darts"), "space")
    from monas.estimators import ESTIMATORS

    estimator_options = parse_options(args.estimator_option, ESTIMATORS.get("rwe"), "estimator", reserved=("seed",))
    seconds, archives = {}, {}
    for workers in (1, 2):
        with tempfile.TemporaryDirectory() as out:
            config = SearchConfig(out=out, dataset="cifar10", data_dir=args.data_dir, pop_size=args.pop_size, generations=1, estimator="rwe",
                                  workers=workers, space_options=space_options, estimator_options=estimator_options)
            result = run(config, log=lambda line: None, progress=False)
            seconds[workers] = result.generations[0]["seconds"]
            archives[workers] = sorted(json.dumps({**e.to_json(), "seconds": 0}, sort_keys=True) for e in result.evaluations)
        per_network = sorted(e.seconds for e in result.evaluations)
        print(f"workers={workers}: {len(result.evaluations)} networks in {seconds[workers]:.1f}s; "
              f"one evaluation {per_network[0]:.1f}-{per_network[-1]:.1f}s")
    print(f"same networks and objectives: {archives[1] == archives[2]}")
    print(f"workers=2 speedup={seconds[1] / seconds[2]:.3f}")


if __name__ == "__main__":
    main()
