"""Tables from ``benchmarks/rwe_ablation.py`` results: each variant's rank correlation
with trained accuracy, and combinations with cheap signals fitted on one sample and
scored on another.

    python benchmarks/rwe_ablation_report.py TUNE.json [REPORT.json] [--table CSV] [--ensemble FILE]

Every RWE setting is ranked on TUNE; the weights of the combinations (a z-scored
sum of -error, log params and NASWOT) are chosen on TUNE and applied unchanged to
REPORT, so REPORT's figures are out of sample. TUNE (or REPORT) may name several
results files of the same sample, comma-separated (runs of different variants): they
are merged network by network, over the networks all of them hold. Each of those may be
slices of one run joined with ``+`` (``rwe_ablation.py --start``), in sample order.

``--ensemble FILE`` (an ``estimator_correlation.py`` or ``nb201_full_space.py`` save
file holding an ``ensemble`` estimate of every network) adds the table that decides
whether an RWE setting joins an ensemble: the ensemble's log rank shares plus w times
the setting's, w chosen on TUNE, against the ensemble alone.
"""
from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path

import numpy as np
from scipy.stats import kendalltau, spearmanr

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.estimator_correlation import TRUTH, kendall_within_quintiles  # noqa: E402
from benchmarks.rwe_ablation import setting  # noqa: E402
from monas.accuracy_table import DEFAULT_NB201_TABLE, load_table  # noqa: E402

WEIGHTS = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0)
# An RWE setting beside a whole ensemble (its members' weights sum to about 3): small weights too.
ENSEMBLE_WEIGHTS = (0.05, 0.1, 0.25, 0.5, 1.0)


def merged_rows(paths: str) -> tuple[list[dict], str]:
    """The rows of the comma-separated results files ``paths``, merged network by network
    (errors and seconds united) over the networks every file holds, and the devices they
    were measured on; SystemExit when the files hold different samples."""
    names = paths.split(",")
    files = [joined_slices(path) for path in names]
    docs = [doc["rows"] for doc in files]
    n = min(len(rows) for rows in docs)
    rows = [dict(row, errors=dict(row["errors"]), seconds=dict(row["seconds"])) for row in docs[0][:n]]
    for path, other in zip(names[1:], docs[1:]):
        if [r["arch"] for r in other[:n]] != [r["arch"] for r in rows]:
            raise SystemExit(f"{path} holds another sample than {names[0]}")
        for row, extra in zip(rows, other):
            row["errors"].update(extra["errors"])
            row["seconds"].update(extra["seconds"])
    return rows, "/".join(sorted({str(doc.get("device")) for doc in files}))


def joined_slices(paths: str) -> dict:
    """The results file of ``+``-separated slices of one run, each starting where the one
    before it ends (the rows of all, the settings and device of the first); SystemExit
    when they do not."""
    names = paths.split("+")
    docs = [json.loads(Path(path).read_text()) for path in names]
    first = docs[0]
    joined = {**first, "rows": list(first["rows"])}
    for path, doc in zip(names[1:], docs[1:]):
        expected = setting(first, "start") + len(joined["rows"])
        others = {*first, *doc} - {"start", "rows", "device"}
        if setting(doc, "start") != expected or any(setting(doc, k) != setting(first, k) for k in others):
            raise SystemExit(f"{path} is not the slice of {names[0]}'s run that starts at network {expected + 1}")
        joined["rows"] += doc["rows"]
    return joined


def load(paths: str, table, ensemble: dict[str, float] | None = None) -> dict:
    """Per-network arrays: truth (from ``table``), macs, params, naswot, synflow, every
    RWE error, and the ``ensemble`` estimate (lower is better) when given; the number of
    networks and the device(s) their seconds were measured on."""
    rows, device = merged_rows(paths)
    keys = sorted(set.intersection(*(set(r["errors"]) for r in rows)))
    out = {k: np.array([r[k] for r in rows], dtype=float) for k in ("macs", "params", "naswot", "synflow")}
    out["truth"] = np.array([table.value(r["arch"], TRUTH) for r in rows])
    out["errors"] = {k: np.array([r["errors"][k] for r in rows], dtype=float) for k in keys}
    variants = sorted({k.split("|")[0] for k in keys})
    out["seconds"] = {v: float(np.mean([r["seconds"][v] for r in rows])) for v in variants}
    out["n"], out["device"] = len(rows), device
    if ensemble is not None:
        missing = [r["arch"] for r in rows if r["arch"] not in ensemble]
        if missing:
            raise SystemExit(f"the --ensemble file has no estimate of {missing[0]}")
        out["ensemble"] = np.array([ensemble[r["arch"]] for r in rows])
    return out


def ensemble_estimates(path: str) -> dict[str, float]:
    """{arch: ensemble estimate} of an ``estimator_correlation.py`` / ``nb201_full_space.py`` save file."""
    doc = json.loads(Path(path).read_text())
    values = doc.get("estimates", {}).get("ensemble")
    if values is None:
        raise SystemExit(f"{path} holds no ensemble estimates")
    return dict(zip(doc["archs"], values))


def metrics(score: np.ndarray, d: dict) -> tuple[float, float, float]:
    """(Kendall, Spearman, Kendall within MACs quintiles) of ``score`` (higher = better)."""
    return kendalltau(score, d["truth"])[0], spearmanr(score, d["truth"])[0], kendall_within_quintiles(score, d["truth"], d["macs"])


def zscore(x: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """``x`` standardised by the mean and deviation of ``ref`` (the tuning sample)."""
    return (x - ref.mean()) / (ref.std() + 1e-12)


def combination(d: dict, key: str, w_params: float, w_naswot: float, ref: dict) -> np.ndarray:
    """w0 * z(-error) + w_params * z(log params) + w_naswot * z(-naswot), standardised by ``ref``."""
    return (
        zscore(-d["errors"][key], -ref["errors"][key])
        + w_params * zscore(np.log(d["params"]), np.log(ref["params"]))
        + w_naswot * zscore(-d["naswot"], -ref["naswot"])
    )


def log_rank(score: np.ndarray) -> np.ndarray:
    """log of each network's share of the sample it beats on ``score`` (higher = better),
    smoothed by half a network: the quantity the ``ensemble`` estimator sums."""
    from scipy.stats import rankdata

    return np.log((rankdata(score) - 0.5) / len(score))


def signals(d: dict, key: str) -> dict[str, np.ndarray]:
    """Scores (higher = better) the rank ensembles combine: #params, NASWOT, SynFlow and
    the RWE setting ``key``."""
    return {"params": d["params"], "naswot": -d["naswot"], "synflow": -d["synflow"], "rwe": -d["errors"][key]}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("tune")
    p.add_argument("report", nargs="?")
    p.add_argument("--table", default=str(DEFAULT_NB201_TABLE))
    p.add_argument("--ensemble", help="a save file with every network's ensemble estimate: does an RWE setting improve it?")
    args = p.parse_args(argv)
    table = load_table(args.table)
    ensemble = ensemble_estimates(args.ensemble) if args.ensemble else None
    tune = load(args.tune, table, ensemble)
    report = load(args.report, table, ensemble) if args.report else None
    print(f"tuning sample: {tune['n']} networks ({args.tune})" + (f"; report sample: {report['n']} ({args.report})" if report else ""))
    print("| setting (variant / features / head / n_train / alpha) | Kendall | Spearman | Kendall within MACs | s / network (features, " + tune["device"] + ") |" + (" report Kendall | report within |" if report else ""))
    print("|---|---|---|---|---|" + ("---|---|" if report else ""))
    for key, err in sorted(tune["errors"].items(), key=lambda kv: -metrics(-kv[1], tune)[0]):
        tau, rho, within = metrics(-err, tune)
        line = f"| {key.replace('|', ' / ')} | {tau:.3f} | {rho:.3f} | {within:.3f} | {tune['seconds'][key.split('|')[0]]:.2f} |"
        if report:
            line += (" {:.3f} | {:.3f} |".format(*np.array(metrics(-report["errors"][key], report))[[0, 2]]) if key in report["errors"] else " - | - |")
        print(line)
    for fset in ("final", "stages"):
        keys = [f"{v}|{fset}|ridge|2000|0.001" for v in ("plain", "seed=1", "seed=2", "seed=3")]
        if all(k in tune["errors"] for k in keys):
            averaged = -np.mean([tune["errors"][k] for k in keys], axis=0)
            print(f"| plain / {fset} / ridge / 2000 / 0.001, n_inits=4 (seeds 0-3 averaged) | " + " | ".join(f"{m:.3f}" for m in metrics(averaged, tune))
                  + f" | {4 * tune['seconds']['plain']:.2f} |" + (" - | - |" if report else ""))
    for name in ("params", "macs"):
        print(f"| #{name} | " + " | ".join(f"{m:.3f}" for m in metrics(tune[name], tune)) + " | 0 |" + (
            " {:.3f} | {:.3f} |".format(*np.array(metrics(report[name], report))[[0, 2]]) if report else ""))
    for name in ("naswot", "synflow"):
        print(f"| {name} | " + " | ".join(f"{m:.3f}" for m in metrics(-tune[name], tune)) + " | - |" + (
            " {:.3f} | {:.3f} |".format(*np.array(metrics(-report[name], report))[[0, 2]]) if report else ""))

    print("\nCombinations, weights chosen on the tuning sample by Kendall tau:")
    print("| RWE setting | w_params | w_naswot | tune Kendall | tune within |" + (" report Kendall | report Spearman | report within |" if report else ""))
    print("|---|---|---|---|---|" + ("---|---|---|" if report else ""))
    keys = [k for k in tune["errors"] if report is None or k in report["errors"]]
    for key in keys:
        best = max(itertools.product(WEIGHTS, WEIGHTS), key=lambda w: metrics(combination(tune, key, *w, tune), tune)[0])
        t = metrics(combination(tune, key, *best, tune), tune)
        line = f"| {key.replace('|', ' / ')} | {best[0]} | {best[1]} | {t[0]:.3f} | {t[2]:.3f} |"
        if report:
            r = metrics(combination(report, key, *best, tune), report)
            line += f" {r[0]:.3f} | {r[1]:.3f} | {r[2]:.3f} |"
        print(line)

    key = "bn=eval|stages|ridge|2000|0.001"  # the default rwe
    if key in tune["errors"] and (report is None or key in report["errors"]):
        print(f"\nRank ensembles (sum of log rank shares within the sample; rwe = {key.replace('|', ' / ')}):")
        print("| members | tune Kendall | tune within |" + (" report Kendall | report Spearman | report within |" if report else ""))
        print("|---|---|---|" + ("---|---|---|" if report else ""))
        for size in (2, 3, 4):
            for members in itertools.combinations(("params", "naswot", "synflow", "rwe"), size):
                t = metrics(sum(log_rank(signals(tune, key)[m]) for m in members), tune)
                line = f"| {'+'.join(members)} | {t[0]:.3f} | {t[2]:.3f} |"
                if report:
                    r = metrics(sum(log_rank(signals(report, key)[m]) for m in members), report)
                    line += f" {r[0]:.3f} | {r[1]:.3f} | {r[2]:.3f} |"
                print(line)
    if ensemble is not None:
        ensemble_gains(tune, report, args.ensemble)


def candidates(d: dict) -> dict[str, np.ndarray]:
    """Scores (higher = better) that may join the ensemble: every RWE setting, and as
    controls the cheap signals and seeded random numbers."""
    controls = {"control: #params": d["params"], "control: naswot": -d["naswot"], "control: synflow": -d["synflow"],
                "control: random numbers": np.random.default_rng(0).normal(size=d["n"])}
    return {**{key: -err for key, err in d["errors"].items()}, **controls}


def joined(d: dict, score: np.ndarray | None, w: float) -> np.ndarray:
    """The ensemble's log rank shares on sample ``d`` plus ``w`` times ``score``'s (none: the ensemble alone)."""
    return log_rank(-d["ensemble"]) + (w * log_rank(score) if score is not None else 0.0)


def joined_kendall(d: dict, score: np.ndarray | None, w: float) -> float:
    """Kendall of ``joined(d, score, w)`` against the trained accuracy."""
    return float(kendalltau(joined(d, score, w), d["truth"])[0])


def ensemble_gains(tune: dict, report: dict | None, path: str) -> None:
    """Per RWE setting (and per control): Kendall of the ensemble's log rank shares plus
    w times the setting's (w > 0 chosen on ``tune``) against the ensemble alone, on
    ``tune`` and, where it holds the setting, on ``report``; best gain first, then one
    result line for the best RWE setting on ``tune`` (ties: the first by name)."""
    base = {"tune": joined_kendall(tune, None, 0.0), "report": joined_kendall(report, None, 0.0) if report else None}
    print(f"\nThe ensemble of {path} plus one RWE setting (log rank shares, w chosen on the tuning sample); "
          f"the ensemble alone: tune Kendall {base['tune']:.3f}" + (f", report {base['report']:.3f}" if report else ""))
    print("| RWE setting | w | tune Kendall | tune gain |" + (" report Kendall | report gain |" if report else ""))
    print("|---|---|---|---|" + ("---|---|" if report else ""))
    tune_scores, report_scores = candidates(tune), candidates(report) if report else {}
    gains = []
    for key, score in tune_scores.items():
        w = max(ENSEMBLE_WEIGHTS, key=lambda w: joined_kendall(tune, score, w))
        t = joined_kendall(tune, score, w)
        r = joined_kendall(report, report_scores[key], w) if key in report_scores else None
        gains.append((t - base["tune"], key, w, t, r))
    for gain, key, w, t, r in sorted(gains, key=lambda g: -g[0]):
        line = f"| {key.replace('|', ' / ')} | {w} | {t:.3f} | {gain:+.3f} |"
        if report:
            line += f" {r:.3f} | {r - base['report']:+.3f} |" if r is not None else " - | - |"
        print(line)
    gain, key, w, _, r = max((g for g in gains if g[1] in tune["errors"]), key=lambda g: g[0])
    line = f"best_tune_gain={gain:.4f} setting={key} n_tune={tune['n']}"
    if r is not None:
        low, high = bootstrap_gain(report, report_scores[key], w)
        line += f" report_gain={r - base['report']:.4f} report_gain_90=[{low:.4f},{high:.4f}] n_report={report['n']}"
    print(line)


def bootstrap_gain(d: dict, score: np.ndarray, w: float, resamples: int = 1000) -> tuple[float, float]:
    """90 % interval of the Kendall gain of adding ``w`` times ``score``'s log rank shares
    to the ensemble's on sample ``d``: networks resampled with replacement (seed 0),
    ranks kept from the whole sample."""
    alone, both = joined(d, None, 0.0), joined(d, score, w)
    rng = np.random.default_rng(0)
    gains = []
    for _ in range(resamples):
        i = rng.integers(0, d["n"], d["n"])
        gains.append(kendalltau(both[i], d["truth"][i])[0] - kendalltau(alone[i], d["truth"][i])[0])
    return tuple(np.percentile(gains, [5, 95]))


if __name__ == "__main__":
    main()
