import json
import subprocess
import sys

import numpy as np
import pytest

from monas.cli.check_estimator import CheckConfig, default_estimators, main, recommend, summarise
from tests.conftest import ROOT

BASE = ["--space", "nb201", "--dataset", "digits", "-S", "channels=4", "-S", "cells_per_stage=1",
        "--epochs", "1", "-E", "train:n_train=200", "-E", "train:n_val=100",
        "--estimators", "params,synflow", "--bootstrap", "200", "--no-progress"]
TABLE_HEADER = "| estimator | Kendall tau | 90 % interval | tau - params' tau (90 % interval) | s / network | setup s | failed |"


def rows_of(out):
    return [json.loads(line) for line in (out / "networks.jsonl").read_text().splitlines()]


def test_end_to_end_on_digits_then_resume(tmp_path, capsys, one_thread):
    out = tmp_path / "check"
    assert main([*BASE, "--n", "4", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert TABLE_HEADER in printed and "Recommendation: 4 networks are too few for a conclusion" in printed
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "networks.jsonl", "report.json"]

    rows = rows_of(out)
    assert [r["index"] for r in rows] == [0, 1, 2, 3] and len({r["arch"] for r in rows}) == 4
    for row in rows:
        assert 0 <= row["truth"]["accuracy"] <= 100 and row["truth"]["error"] is None and row["truth"]["seconds"] > 0
        assert set(row["estimates"]) == {"params", "synflow"}
        assert row["estimates"]["params"]["estimate"] < 0 and row["estimates"]["params"]["error"] is None

    report = json.loads((out / "report.json").read_text())
    assert set(report) == {"space", "dataset", "networks", "epochs", "early_stop", "truth", "bootstrap", "estimators", "recommendation"}
    assert report["networks"] == 4 and report["bootstrap"] == {"resamples": 200, "confidence": 0.9, "method": "percentile, paired"}
    assert report["recommendation"]["estimator"] is None
    by_name = {e["estimator"]: e for e in report["estimators"]}
    assert set(by_name) == {"params", "synflow"}
    assert by_name["params"]["minus_params"] is None and by_name["synflow"]["minus_params"] is not None
    for entry in by_name.values():
        low, high = entry["interval"]
        assert low <= entry["kendall_tau"] <= high and -1 <= low and high <= 1
        assert entry["failed"] == 0 and entry["seconds_per_network"] > 0
    accuracies = [r["truth"]["accuracy"] for r in rows]
    assert report["truth"]["min_accuracy"] == min(accuracies) and report["truth"]["max_accuracy"] == max(accuracies)

    # Resume with a larger --n: the four finished networks are kept, only the fifth is trained.
    before = (out / "networks.jsonl").read_text()
    assert main(["--resume", "--out", str(out), "--n", "5"]) == 0
    captured = capsys.readouterr()
    assert captured.err.startswith("[5/5] trained to ") and captured.err.count("\n") == 1
    assert (out / "networks.jsonl").read_text().startswith(before) and len(rows_of(out)) == 5
    assert json.loads((out / "report.json").read_text())["networks"] == 5
    assert json.loads((out / "config.json").read_text())["config"]["n"] == 5

    # A fresh check of the same 5 networks gives the same lines (the sample and every estimate are seeded).
    fresh = tmp_path / "fresh"
    assert main([*BASE, "--n", "5", "--out", str(fresh)]) == 0
    strip = lambda rows: [{**r, "truth": {**r["truth"], "seconds": 0}, "estimates": {k: {**v, "seconds": 0} for k, v in r["estimates"].items()}} for r in rows]  # noqa: E731
    assert strip(rows_of(fresh)) == strip(rows_of(out))

    # Nothing left to do: no network is trained, the report is written again.
    capsys.readouterr()
    assert main(["--resume", "--out", str(out)]) == 0
    assert capsys.readouterr().err == "" and len(rows_of(out)) == 5


def synthetic_rows(truth, **estimates):
    return [
        {"index": i, "arch": str(i), "truth": {"accuracy": float(t), "seconds": 1.0, "error": None},
         "estimates": {name: {"estimate": float(v[i]), "seconds": 0.1, "error": None} for name, v in estimates.items()}}
        for i, t in enumerate(truth)
    ]


def test_summary_and_recommendation_on_constructed_scores():
    rng = np.random.default_rng(0)
    truth = np.arange(20.0)
    good = -truth  # an error estimate: lower is better
    params = rng.permutation(20).astype(float)
    config = CheckConfig(out="", estimators=["params", "good"], bootstrap=300)
    report = summarise(synthetic_rows(truth, params=params, good=good), config, {"params": 0.0, "good": 0.5})
    entries = {e["estimator"]: e for e in report["estimators"]}
    assert entries["good"]["kendall_tau"] == 1.0 and entries["good"]["interval"] == pytest.approx([1.0, 1.0])
    assert entries["good"]["minus_params_interval"][0] > 0 and entries["good"]["setup_seconds"] == 0.5
    assert report["recommendation"]["estimator"] == "good"
    assert report["recommendation"]["text"].startswith("Use --estimator good: Kendall tau 1.00")
    assert "better than counting parameters" in report["recommendation"]["text"]

    # Constant trained accuracy: nothing to rank; constant estimates: no tau.
    flat = summarise(synthetic_rows(np.full(12, 50.0), params=params[:12], good=good[:12]), config, {})
    assert flat["recommendation"]["estimator"] is None and "nothing to rank" in flat["recommendation"]["text"]
    assert all(e["kendall_tau"] is None for e in flat["estimators"])


def entry(name, tau, interval, minus=None):
    return {"estimator": name, "kendall_tau": tau, "interval": interval, "minus_params": None if minus is None else tau - 0.3,
            "minus_params_interval": minus, "seconds_per_network": 1.0}


@pytest.mark.parametrize(
    "entries, n, chosen, words",
    [
        ([entry("a", 0.5, [0.2, 0.7])], 9, None, "too few for a conclusion"),
        ([entry("a", 0.2, [-0.1, 0.5]), entry("params", 0.1, [-0.2, 0.4])], 30, None, "better than chance"),
        ([entry("a", 0.5, [0.3, 0.7], [-0.1, 0.4]), entry("b", 0.45, [0.25, 0.6], [0.05, 0.3]), entry("params", 0.3, [0.1, 0.5])],
         30, "b", "better than counting parameters by"),
        ([entry("a", 0.5, [0.3, 0.7], [-0.1, 0.4]), entry("params", 0.3, [0.1, 0.5])], 30, "a", "not distinguishably better"),
        ([entry("a", 0.2, [0.05, 0.4], [-0.3, 0.1]), entry("params", 0.3, [0.1, 0.5])], 30, "params", "no estimator ranks"),
    ],
)
def test_recommendation_rule(entries, n, chosen, words):
    name, text = recommend(entries, np.arange(float(n)), params_measured=any(e["estimator"] == "params" for e in entries))
    assert name == chosen and words in text


def test_default_estimators_leave_out_the_truth_and_the_table():
    names = default_estimators()
    assert "train" not in names and "table" not in names
    assert {"params", "rwe", "ensemble"} <= set(names)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--n", "2"], "--n must be at least 3, got 2"),
        (["--epochs", "0"], "--epochs must be at least 1"),
        (["--bootstrap", "10"], "--bootstrap must be at least 100"),
        (["--estimators", "params,nope"], "unknown estimator 'nope' (known: "),
        (["--estimators", "train"], "train gives the trained accuracy here"),
        (["--estimators", "params,params"], "--estimators lists params twice"),
        (["--estimators", " , "], "--estimators lists no estimator"),
        (["-E", "n_train=100"], "-E 'n_train=100' is not NAME:KEY=VALUE"),
        (["-E", "rwe:n_train=100"], "rwe is neither train nor one of --estimators (params,synflow)"),
        (["-E", "train:epochs=3"], "unknown train option 'epochs'"),
        (["-E", "train:lr=fast"], "train option lr='fast' is not a valid float"),
        (["-E", "train:lr=-1"], "train option lr=-1.0 must be a finite number"),
        (["-E", "params:depth=3"], "unknown estimator params option 'depth'"),
        (["-E", "train:n_train=5000"], "only 1438"),
        (["--space", "nope"], "unknown search space 'nope'"),
        (["-S", "depth=2"], "unknown space option 'depth'"),
        (["--dataset", "nope"], "unknown dataset 'nope'"),
        (["--device", "tpu"], "unknown --device 'tpu'"),
        (["--early-stop", "sometimes"], "invalid choice: 'sometimes'"),
        (["--n", "many"], "invalid int value: 'many'"),
    ],
)
def test_bad_options_are_one_line_exit_2_and_nothing_written(argv, message, tmp_path, capsys):
    out = tmp_path / "check"
    assert main([*BASE, *argv, "--out", str(out)]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1
    assert captured.err.startswith("check_estimator: error: ") and message in captured.err
    assert not out.exists()


def test_existing_out_and_bad_resumes_are_refused_unchanged(tmp_path, capsys):
    out = tmp_path / "check"
    out.mkdir()
    (out / "config.json").write_text("keep me")
    assert main([*BASE, "--out", str(out)]) == 2
    assert "already holds a check (config.json); pass --resume" in capsys.readouterr().err
    assert main(["--resume", "--out", str(out)]) == 2
    assert "is unreadable" in capsys.readouterr().err
    assert (out / "config.json").read_text() == "keep me" and [p.name for p in out.iterdir()] == ["config.json"]

    (out / "config.json").write_text(json.dumps({"config": {"out": str(out), "space": "nb201", "n": 6}}))
    for argv, message in [
        (["--resume"], "--resume needs --out"),
        (["--resume", "--out", str(out), "--epochs", "2"], "with --resume the check's own settings apply; drop --epochs"),
        (["--resume", "--out", str(out), "--n", "5"], "--n may only be raised on --resume"),
        (["--resume", "--out", str(tmp_path / "none")], "holds no monas run"),
    ]:
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and message in err
    assert [p.name for p in out.iterdir()] == ["config.json"] and not (tmp_path / "none").exists()


def test_script_runs_as_a_subprocess_without_traceback(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(ROOT / "experiments" / "check_estimator.py"), *BASE, "--n", "1", "--out", str(tmp_path / "c")],
        capture_output=True, text=True,
    )
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr == "check_estimator: error: --n must be at least 3, got 1\n"
    assert not (tmp_path / "c").exists()
