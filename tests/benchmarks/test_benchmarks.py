"""The benchmarks run end to end at a tiny size and end with their result lines."""
import re
import subprocess
import sys

from tests.conftest import ROOT, shared_data


def run(script, *args):
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), *args], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout.strip().splitlines()


def test_rwe_cost_tiny():
    data = shared_data("cifar10")
    lines = run("rwe_cost.py", "--data-dir", str(data), "--genomes", "1", "--repeats", "1", "--search-pop", "2",
                "-S", "init_channels=4", "-S", "layers=3", "-E", "n_train=100", "-E", "n_val=50")
    assert re.fullmatch(r"rwe_over_forward=\d+\.\d+ evals_per_min=\d+\.\d", lines[-1])


def test_estimator_correlation_tiny(tmp_path):
    data, table = shared_data("cifar10"), shared_data("nb201", "nb201_accuracy.csv")
    lines = run("estimator_correlation.py", "--n-archs", "6", "--estimators", "params,rwe", "--data-dir", str(data),
                "--table", str(table), "-E", "rwe:n_train=100", "-E", "rwe:n_val=50",
                "-S", "channels=4", "-S", "cells_per_stage=1", "--save", str(tmp_path / "scores.json"))
    pattern = r"estimator={} kendall=-?\d\.\d+ spearman=-?\d\.\d+ kendall_within_macs=(-?\d\.\d+|nan) sec_per_arch=\d+\.\d+"
    assert re.fullmatch(pattern.format("params"), lines[-2]) and re.fullmatch(pattern.format("rwe"), lines[-1])
    assert (tmp_path / "scores.json").exists()


def test_rwe_ablation_report_on_recorded_results():
    table = shared_data("nb201", "nb201_accuracy.csv")
    results = ROOT / "benchmarks" / "results"
    lines = run("rwe_ablation_report.py", str(results / "rwe_ablation_nb201_seed1.json"),
                str(results / "rwe_ablation_nb201_seed0.json"), "--table", str(table))
    assert any(line.startswith("| #params |") for line in lines)
    assert any(line.startswith("| plain / final / ridge / 2000 / 0.001 |") for line in lines)


def test_search_quality_tiny():
    data, table = shared_data("cifar10"), shared_data("nb201", "nb201_accuracy.csv")
    lines = run("search_quality.py", "--budgets", "20,40", "--seeds", "1", "--estimator", "table",
                "-E", f"path={table}", "--data-dir", str(data), "--table", str(table))
    for line, budget in zip(lines[-2:], (20, 40)):
        match = re.fullmatch(rf"budget={budget} nsga2_table=(\d\.\d+) random=(\d\.\d+) oracle=(\d\.\d+)", line)
        assert match and all(0 < float(v) <= 1 for v in match.groups())
        assert match.group(1) == match.group(3)  # the table estimator is the oracle


def test_parallel_speedup_tiny():
    data = shared_data("cifar10")
    lines = run("parallel_speedup.py", "--data-dir", str(data), "--pop-size", "2", "-S", "init_channels=4", "-S", "layers=3",
                "-E", "n_train=100", "-E", "n_val=50")
    assert lines[-2] == "same networks and objectives: True"
    assert re.fullmatch(r"workers=2 speedup=\d+\.\d+", lines[-1])
