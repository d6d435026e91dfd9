"""The benchmarks run end to end at a tiny size and end with their result lines."""
import contextlib
import io
import json
import re
import subprocess
import sys

import numpy as np
import pytest

from benchmarks import darts_search, ensemble_select, estimator_correlation, nb201_full_space, rwe_ablation_report, search_quality
from benchmarks.estimator_correlation import sample_archs
from monas.accuracy_table import load_table
from tests.conftest import ROOT, shared_data


# Scripts whose main(argv) runs in this process: each spawned interpreter costs seconds of imports.
IN_PROCESS = {"estimator_correlation.py": estimator_correlation, "ensemble_select.py": ensemble_select,
              "search_quality.py": search_quality, "darts_search.py": darts_search,
              "rwe_ablation_report.py": rwe_ablation_report}


def run_in_process(script, *args):
    """(stdout, stderr) of ``script``'s main(args) run here; its SystemExit propagates."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        IN_PROCESS[script].main(list(args))
    return out.getvalue(), err.getvalue()


def run(script, *args):
    """The stdout lines of benchmark ``script`` run with ``args``, which must succeed."""
    if script in IN_PROCESS:
        return run_in_process(script, *args)[0].strip().splitlines()
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
    saved = (tmp_path / "scores.json").read_text()
    recorded = json.loads(saved)["estimator_options"]["rwe"]
    assert recorded["n_train"] == 100 and recorded["n_val"] == 50 and len(recorded) > 2  # the defaults too
    with pytest.raises(SystemExit, match="holds rwe estimates made with"):  # not resumed with another setting
        run("estimator_correlation.py", "--n-archs", "6", "--estimators", "params,rwe", "--data-dir", str(data),
            "--table", str(table), "-E", "rwe:n_train=120", "-E", "rwe:n_val=50",
            "-S", "channels=4", "-S", "cells_per_stage=1", "--save", str(tmp_path / "scores.json"))
    assert (tmp_path / "scores.json").read_text() == saved


def test_estimator_correlation_resumes_and_scores_darts_networks(tmp_path):
    data, darts = shared_data("cifar10"), shared_data("darts", "darts_cifar10_356.csv")
    args = ("--space", "darts", "--n-archs", "4", "--data-dir", str(data), "--table", str(darts),
            "-S", "init_channels=4", "-S", "layers=3", "--save", str(tmp_path / "darts.json"))
    first = run("estimator_correlation.py", *args, "--estimators", "params")
    saved = json.loads((tmp_path / "darts.json").read_text())
    assert len(saved["archs"]) == 4 and len(saved["estimates"]["params"]) == 4
    again = run("estimator_correlation.py", *args, "--estimators", "params,synflow")
    assert again[-2] == first[-1]  # params read back, not recomputed differently
    assert again[-1].startswith("estimator=synflow kendall=")


def test_estimator_correlation_scores_a_prefix_against_another_column(tmp_path):
    data, path = shared_data("cifar10"), shared_data("nb201", "nb201_accuracy.csv")
    common = ("--n-archs", "12", "--data-dir", str(data), "--table", str(path), "-S", "channels=4", "-S", "cells_per_stage=1")
    run("estimator_correlation.py", *common, "--first", "4", "--estimators", "params", "--truth", "cifar10_valid_acc_200ep",
        "--save", str(tmp_path / "p.json"))
    saved, table = json.loads((tmp_path / "p.json").read_text()), load_table(path)
    assert saved["archs"] == sample_archs(12, 0, table)[:4]
    assert saved["truth"] == [table.value(a, "cifar10_valid_acc_200ep") for a in saved["archs"]]
    merged = run("estimator_correlation.py", *common, "--first", "3", "--estimators", "", "--merge", str(tmp_path / "p.json"))
    assert "NAS-Bench-201, 3 networks" in merged[0] and merged[-1].startswith("estimator=params kendall=")
    bad = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "estimator_correlation.py"), *common, "--truth", "nope"],
                         capture_output=True, text=True, timeout=600)
    assert bad.returncode != 0 and len(bad.stderr.strip().splitlines()) == 1 and "nope" in bad.stderr


def test_ensemble_select_chooses_on_tune_and_reports_out_of_sample(tmp_path):
    data, table = shared_data("cifar10"), shared_data("nb201", "nb201_accuracy.csv")
    common = ("--estimators", "params,macs,synflow", "--data-dir", str(data), "--table", str(table),
              "-S", "channels=4", "-S", "cells_per_stage=1")
    run("estimator_correlation.py", "--n-archs", "12", "--seed", "1", "--exclude-seed", "0", "--save", str(tmp_path / "t.json"), *common)
    run("estimator_correlation.py", "--n-archs", "12", "--seed", "0", "--save", str(tmp_path / "r.json"), *common)
    tune, report = (json.loads((tmp_path / f).read_text()) for f in ("t.json", "r.json"))
    assert not set(tune["archs"]) & set(sample_archs(1000, 0, load_table(table)))
    lines = run("ensemble_select.py", "--tune", str(tmp_path / "t.json"), "--report", str(tmp_path / "r.json"), "--max-members", "2")
    match = re.fullmatch(r"members=([a-z:\d.,-]+) tune_kendall=(-?\d\.\d+) tune_within=(-?\d\.\d+|nan) report_kendall=(-?\d\.\d+) "
                         r"report_spearman=-?\d\.\d+ report_within=(-?\d\.\d+|nan)", lines[-1])
    assert match, lines[-1]
    members = [m.split(":")[0] for m in match.group(1).split(",")]
    assert 1 <= len(members) <= 2 and set(members) <= {"params", "macs", "synflow"}
    assert len(report["archs"]) == 12
    # A prefix of the report sample scored by another estimator joins it; a baseline is scored beside the choice.
    run("estimator_correlation.py", "--n-archs", "12", "--seed", "0", "--first", "8", "--save", str(tmp_path / "r8.json"),
        *common[:1], "naswot", *common[2:])
    lines = run("ensemble_select.py", "--tune", str(tmp_path / "t.json"), "--report", str(tmp_path / "r.json"),
                str(tmp_path / "r8.json"), "--max-members", "1", "--baseline", "params,synflow:0.5")
    assert "report sample: 8 networks, chosen subset scored unchanged" in lines
    assert any(line.startswith("baseline params,synflow:0.5 on the report sample: kendall=") for line in lines)
    again = run("estimator_correlation.py", "--n-archs", "12", "--seed", "0", "--estimator-seed", "1", "--agreement",
                str(tmp_path / "r.json"), *common)
    assert "agreement params: Spearman 1.0000 between estimator seeds 1 and 0" in again  # a count ignores the seed
    assert any(line.startswith("agreement synflow: Spearman") for line in again)
    prefix = run("estimator_correlation.py", "--n-archs", "12", "--seed", "0", "--first", "6", "--estimator-seed", "1",
                 "--agreement", str(tmp_path / "r.json"), *common)  # the first 6 of a 12-network save file
    assert "agreement params: Spearman 1.0000 between estimator seeds 1 and 0" in prefix


def test_ensemble_select_guard_keeps_every_tuning_sample_at_the_baselines_kendall(tmp_path, monkeypatch, capsys):
    rng = np.random.default_rng(0)
    truth = np.arange(40.0)
    noisy = -truth + rng.normal(0, 12, 40)
    samples = {"t1": {"a": -truth, "b": noisy, "c": rng.normal(0, 1, 40)},  # a: perfect here...
               "t2": {"a": -truth + rng.normal(0, 20, 40), "b": noisy, "c": -truth + rng.normal(0, 20, 40)}}  # ...weak here
    macs = rng.permutation(40).tolist()
    for name, estimates in samples.items():
        (tmp_path / f"{name}.json").write_text(json.dumps({
            "archs": [f"n{i}" for i in range(40)], "truth": truth.tolist(), "macs": macs,
            "estimates": {k: v.tolist() for k, v in estimates.items()}, "seconds": {k: 0.1 for k in estimates}}))
    args = ["--tune", str(tmp_path / "t1.json"), "--tune", str(tmp_path / "t2.json"), "--max-members", "2", "--baseline", "b"]

    def select(*argv):  # in process: the selection itself is all this test needs
        monkeypatch.setattr(sys, "argv", ["ensemble_select.py", *argv])
        ensemble_select.main()
        return capsys.readouterr().out.strip().splitlines()

    free = dict(item.split("=") for item in select(*args)[-1].split())
    guarded_lines = select(*args, "--guard")
    guarded = dict(item.split("=") for item in guarded_lines[-1].split())
    baseline = [line for line in guarded_lines if line.startswith("baseline b: ")][0].split(" = ")[1].split(" / ")
    assert free["members"] == "a" and float(free["tune2_kendall"]) < float(baseline[2])  # a loss in t2 paid for by t1
    floor = [float(baseline[0]) - 5e-4, float(baseline[2]) - 5e-4]  # the baseline line is rounded to 3 places
    assert float(guarded["tune_kendall"]) >= floor[0] and float(guarded["tune2_kendall"]) >= floor[1]
    assert any("guarded by the baseline's Kendall on each sample" in line for line in guarded_lines)
    with pytest.raises(SystemExit, match="^--guard needs --baseline"):
        select(*args[:4], "--guard")


def test_rwe_ablation_report_on_recorded_results():
    table = shared_data("nb201", "nb201_accuracy.csv")
    results = ROOT / "benchmarks" / "results"
    lines = run("rwe_ablation_report.py", str(results / "rwe_ablation_nb201_seed1.json"),
                str(results / "rwe_ablation_nb201_seed0.json"), "--table", str(table))
    assert any(line.startswith("| #params |") for line in lines)
    assert any(line.startswith("| plain / final / ridge / 2000 / 0.001 |") for line in lines)


def test_rwe_ablation_report_merges_runs_and_weighs_an_ensemble(tmp_path):
    table = shared_data("nb201", "nb201_accuracy.csv")
    doc = json.loads((ROOT / "benchmarks" / "results" / "rwe_ablation_nb201_seed1.json").read_text())
    rows = doc["rows"][:30]

    def part(name, variants, n=len(rows)):  # the rows with only ``variants``' errors and seconds
        keep = lambda d: {k: v for k, v in d.items() if k.split("|")[0] in variants}  # noqa: E731
        path = tmp_path / name
        path.write_text(json.dumps({**doc, "rows": [dict(r, errors=keep(r["errors"]), seconds=keep(r["seconds"])) for r in rows[:n]]}))
        return str(path)

    whole = part("whole.json", {"plain", "bn=eval"})
    merged = ",".join([part("a.json", {"plain"}), part("b.json", {"bn=eval"}, n=20)])
    truth = {r["arch"]: load_table(table).value(r["arch"], estimator_correlation.TRUTH) for r in rows}
    perfect = tmp_path / "ensemble.json"  # ranks exactly as the trained accuracy does
    perfect.write_text(json.dumps({"archs": list(truth), "estimates": {"ensemble": [-v for v in truth.values()]}}))
    lines = run("rwe_ablation_report.py", merged, "--table", str(table), "--ensemble", str(perfect))
    assert lines[0].startswith("tuning sample: 20 networks")  # the networks both files hold
    assert any(line.startswith("| bn=eval / stages / ridge / 2000 / 0.001 |") for line in lines)
    assert any(line.startswith("| plain / final / ridge / 4000 / 0.1 |") for line in lines)
    assert any(line.endswith("the ensemble alone: tune Kendall 1.000") for line in lines)
    gain = re.fullmatch(r"best_tune_gain=(-?\d\.\d+) setting=\S+ n_tune=20", lines[-1])
    assert gain and float(gain.group(1)) <= 0  # nothing improves a perfect ranking
    perfect.write_text(json.dumps({"archs": list(truth), "estimates": {"ensemble": list(truth.values())}}))
    reversed_lines = run("rwe_ablation_report.py", merged, "--table", str(table), "--ensemble", str(perfect))
    assert any(line.endswith("the ensemble alone: tune Kendall -1.000") for line in reversed_lines)
    assert float(reversed_lines[-1].split()[0].split("=")[1]) > 0  # any informative setting improves the worst one
    same = run("rwe_ablation_report.py", whole, "--table", str(table))
    assert same[1:] == run("rwe_ablation_report.py", ",".join([part("c.json", {"plain"}), part("d.json", {"bn=eval"})]),
                           "--table", str(table))[1:]
    shifted = tmp_path / "shifted.json"
    shifted.write_text(json.dumps({**doc, "rows": doc["rows"][1:31]}))
    with pytest.raises(SystemExit, match="holds another sample than"):
        rwe_ablation_report.main([f"{whole},{shifted}", "--table", str(table)])
    perfect.write_text(json.dumps({"archs": list(truth)[1:], "estimates": {"ensemble": list(truth.values())[1:]}}))
    with pytest.raises(SystemExit, match="has no estimate of"):
        rwe_ablation_report.main([whole, "--table", str(table), "--ensemble", str(perfect)])
    perfect.write_text(json.dumps({"archs": list(truth), "estimates": {"meco": list(truth.values())}}))
    with pytest.raises(SystemExit, match="holds no ensemble estimates"):
        rwe_ablation_report.main([whole, "--table", str(table), "--ensemble", str(perfect)])


NUMBER = r"(\d(?:\.\d+)?(?:e-\d+)?)"


def test_search_quality_tiny():
    data, table = shared_data("cifar10"), shared_data("nb201", "nb201_accuracy.csv")
    lines = run("search_quality.py", "--budgets", "20,40", "--seeds", "2", "--estimator", "table",
                "-E", f"path={table}", "--data-dir", str(data), "--table", str(table))
    for line, budget in zip(lines[-2:], (20, 40)):
        match = re.fullmatch(rf"budget={budget} nsga2={NUMBER} random={NUMBER} oracle={NUMBER} random_oracle={NUMBER} "
                             rf"igd_plus_nsga2={NUMBER} igd_plus_random={NUMBER} p={NUMBER}", line)
        assert match, line
        hv, random, oracle, random_oracle, igd, igd_random, p = (float(v) for v in match.groups())
        assert all(0 < v <= 1 for v in (hv, random, oracle, random_oracle, p)) and igd > 0 and igd_random > 0
        assert (hv, random) == (oracle, random_oracle)  # the table estimator is the oracle
    assert any(line.startswith("| 40 | ") for line in lines) and "share of the true front's networks returned" in lines


def test_search_quality_reads_estimates_and_checks_them(tmp_path):
    data, table = shared_data("cifar10"), shared_data("nb201", "nb201_accuracy.csv")
    save = tmp_path / "params.json"
    run("estimator_correlation.py", "--n-archs", "8", "--estimators", "params", "--data-dir", str(data), "--table", str(table),
        "--save", str(save))
    args = ("--budgets", "20", "--seeds", "1", "--estimator", "params", "--data-dir", str(data), "--table", str(table),
            "--algorithm", "sms-emoa", "--estimates")
    out, err = run_in_process("search_quality.py", *args, str(save))
    assert "8 estimates read from" in err
    assert re.fullmatch(rf"budget=20 sms-emoa={NUMBER} random=.* igd_plus_sms-emoa=.* p={NUMBER}", out.splitlines()[-1])
    doc = json.loads(save.read_text())
    doc["estimates"]["params"][0] += 1.0
    save.write_text(json.dumps(doc))
    with pytest.raises(SystemExit, match="not the same estimator"):
        run_in_process("search_quality.py", *args, str(save))
    doc["estimator_seed"] = 1
    save.write_text(json.dumps(doc))
    with pytest.raises(SystemExit, match="holds no nb201 estimates of params with estimator seed 0"):
        run_in_process("search_quality.py", *args, str(save))


def test_parallel_speedup_tiny():
    data = shared_data("cifar10")
    lines = run("parallel_speedup.py", "--data-dir", str(data), "--pop-size", "2", "-S", "init_channels=4", "-S", "layers=3",
                "-E", "n_train=100", "-E", "n_val=50")
    assert lines[-2] == "same networks and objectives: True"
    assert re.fullmatch(r"workers=2 speedup=\d+\.\d+", lines[-1])


def test_train_throughput_tiny():
    data = shared_data("cifar10")
    lines = run("train_throughput.py", "--data-dir", str(data), "--steps", "2", "--batch-size", "8", "--init-channels", "4",
                "--layers", "3", "--repeats", "1", "--workers", "0")
    assert re.fullmatch(r"bare: \d+\.\d images/s .*", lines[-3]) and re.fullmatch(r"train_cifar: \d+\.\d images/s .*", lines[-2])
    assert re.fullmatch(r"train_over_bare=\d+\.\d{3}", lines[-1])


def test_early_stop_replay_on_synthetic_curves(tmp_path):
    import json

    import numpy as np

    # Clean saturating curves converge within a few epochs on a prediction that keeps
    # the order of their limits.
    x = np.arange(1, 21) / 2
    curves = [{"arch": f"net{i}", "epochs": x.tolist(), "accuracies": (limit - 40 * np.exp(-0.5 * x)).tolist()}
              for i, limit in enumerate([50.0, 60.0, 70.0, 80.0])]
    path = tmp_path / "curves.json"
    path.write_text(json.dumps({"settings": {"epochs": 10}, "curves": curves}))
    lines = run("early_stop.py", "--curves", str(path), "--k", "2")
    saved, recall = re.fullmatch(r"epochs_saved=(\d\.\d+) topk_recall=(\d\.\d+)", lines[-1]).groups()
    assert 0.4 < float(saved) < 0.8 and float(recall) == 1.0
    assert "stopped early: 4 of 4" in "\n".join(lines)


def test_early_stop_generates_real_curves_tiny(tmp_path):
    data, table = shared_data("cifar10"), shared_data("nb201", "nb201_accuracy.csv")
    path = tmp_path / "curves.json"
    lines = run("early_stop.py", "--generate", "--curves", str(path), "--n-archs", "1", "--epochs", "1", "--n-train", "40",
                "--n-val", "20", "--channels", "2", "--batch-size", "16", "--data-dir", str(data), "--table", str(table))
    assert re.fullmatch(r"epochs_saved=0\.0000 topk_recall=1\.0000", lines[-1])
    import json

    (curve,) = json.loads(path.read_text())["curves"]
    assert curve["epochs"] == [0.5, 1.0] and all(0 <= a <= 100 for a in curve["accuracies"])


def test_prune_proxy_tiny(tmp_path):
    data = shared_data("cifar10")
    lines = run("prune_proxy.py", "--data-dir", str(data), "--n-train", "200", "--n-test", "50", "--init-channels", "4",
                "--layers", "3", "--max-epochs", "2", "--trials", "2", "--out", str(tmp_path))
    assert re.fullmatch(r"time_saved=-?\d+\.\d+ acc_gap_pp=-?\d+\.\d+", lines[-1])
    assert (tmp_path / "proxy" / "final.json").exists() and (tmp_path / "full" / "final.json").exists()


def test_worker_overhead_tiny():
    data = shared_data("cifar10")
    lines = run("worker_overhead.py", "--data-dir", str(data), "-S", "init_channels=4", "-S", "layers=3")
    faults = re.fullmatch(r"worker_over_main_cpu=\d+\.\d+ worker_faults=(\d+) main_faults=\d+", lines[-1]).group(1)
    # Measured at this size: 0.04-0.1 million with the fixed mmap threshold, 1.7 million without.
    assert int(faults) < 500_000


def test_startup_times_every_command():
    lines = run("startup.py", "--repeats", "1")  # it fails itself when a case exits with the wrong code
    assert re.fullmatch(r"torch_import_seconds=\d+\.\d\d", lines[0])
    rows = [re.fullmatch(r"command=(\w+) case=(\w+) seconds=\d+\.\d\d over_torch_import=\d+\.\d\d", line) for line in lines[1:]]
    assert all(rows) and len(rows) == 12
    assert {row.group(1) for row in rows} == {"run_nsga", "evaluate", "train_cifar", "transfer_imagenet", "run_hpo"}


def test_latency_repeatability_tiny():
    lines = run("latency_repeatability.py", "--n", "1")
    assert len(lines) == 2 + 3 + 1  # header lines, one network per space, the summary
    assert re.fullmatch(r"networks=3 max_deviation=\d+\.\d{3} median_deviation=\d+\.\d{3} within_10_percent=\d/3", lines[-1])


def test_darts_mobile_macs_tiny():
    lines = run("darts_mobile_macs.py", "--n", "2")
    match = re.fullmatch(r"difference_min=(\d+\.\d+) difference_max=(\d+\.\d+) proxy_ratio_min=\d+\.\d+ proxy_ratio_max=\d+\.\d+",
                         lines[-1])
    assert match and match.group(1) == match.group(2)  # the genotype-independent difference of the README


def test_nb201_full_space_reports_the_top_of_the_ranking(capsys):
    truth, macs = np.arange(60.0), np.ones(60)
    nb201_full_space.report(-truth, truth, macs, 0.1)  # a perfect estimator (lower estimate = better)
    nb201_full_space.report(truth, truth, macs, 0.1)  # a reversed one
    perfect, reversed_ = capsys.readouterr().out.splitlines()[::2]
    assert perfect == "top: best50_true=34.50 best50_possible=34.50 kendall_in_true_top_tenth=1.0000"
    assert reversed_ == "top: best50_true=24.50 best50_possible=34.50 kendall_in_true_top_tenth=-1.0000"


def test_nb201_full_space_scores_a_prefix_resumes_it_and_joins_parts(tmp_path, capsys):
    data, save = shared_data("cifar10"), tmp_path / "all.json"
    common = ["--n", "12", "--estimator", "params", "--data-dir", str(data)]

    def last_line(*args):
        nb201_full_space.main([*args, *common])
        return capsys.readouterr().out.strip().splitlines()[-1]

    first = last_line("--save", str(save))
    assert re.fullmatch(r"n=12 kendall=-?\d\.\d+ spearman=-?\d\.\d+ kendall_within_macs=(-?\d\.\d+|nan) sec_per_arch=\d+\.\d+", first)
    assert len(json.loads(save.read_text())["estimates"]["params"]) == 12
    assert last_line("--save", str(save)).split()[:3] == first.split()[:3]

    with pytest.raises(SystemExit) as bad:
        last_line("--part", "2/2", "--save", str(tmp_path / "p2.json"))
    assert bad.value.code == 2 and "expected I/N with 0 <= I < N" in capsys.readouterr().err
    parts = [tmp_path / "p0.json", tmp_path / "p1.json"]
    for i, part in enumerate(parts):
        assert last_line("--part", f"{i}/2", "--save", str(part)).startswith("n=6 ")
    with pytest.raises(SystemExit, match="not the 12 of the permutation"):
        last_line("--join", str(parts[0]), "--save", str(tmp_path / "half.json"))
    assert not (tmp_path / "half.json").exists()
    with pytest.raises(SystemExit, match="exists; --join writes a new file"):
        last_line("--join", str(parts[1]), str(parts[0]), "--save", str(save))
    assert last_line("--join", str(parts[1]), str(parts[0]), "--save", str(tmp_path / "joined.json")).split()[:3] == first.split()[:3]
    joined, whole = json.loads((tmp_path / "joined.json").read_text()), json.loads(save.read_text())
    assert all(joined[key] == whole[key] for key in ("archs", "estimates", "truth", "macs", "space", "estimator_seed"))


def test_darts_search_tiny_resumes_and_refuses_other_settings(tmp_path):
    data, save = shared_data("cifar10"), tmp_path / "darts_search.json"
    args = ("--budgets", "4,8", "--pop-size", "4", "--estimator", "params", "--data-dir", str(data), "--save", str(save))
    lines = run("darts_search.py", "--seeds", "0", *args)
    runs = json.loads(save.read_text())["runs"]
    assert sorted(runs) == ["nsga2+ux0.9/0", "random/0"] and all(len(r) == 8 for r in runs.values())
    assert all(macs > 0 for r in runs.values() for _, _, macs in r)
    assert len({arch for arch, _, _ in runs["nsga2+ux0.9/0"]}) == 8  # distinct networks
    for line, budget in zip(lines[-2:], (4, 8)):
        assert re.fullmatch(rf"budget={budget} nsga2\+ux0.9={NUMBER} random={NUMBER} p={NUMBER}", line), line
    for method in (r"nsga2\+ux0.9", "random"):  # each method's evaluated networks described: share, median, distinct (<= 8)
        assert any(re.fullmatch(rf"\| {method} \| {NUMBER} \| -?\d+\.\d+ \| [1-8] \|", line) for line in lines), lines
    run("darts_search.py", "--seeds", "0,1", *args)  # seed 0 is kept, seed 1 added
    again = json.loads(save.read_text())["runs"]
    assert again["nsga2+ux0.9/0"] == runs["nsga2+ux0.9/0"] and sorted(again) == ["nsga2+ux0.9/0", "nsga2+ux0.9/1", "random/0", "random/1"]
    crossed = run("darts_search.py", "--seeds", "0", "--crossover", "0", *args)  # a variant beside the same random runs
    again = json.loads(save.read_text())["runs"]
    assert sorted(again) == ["nsga2+ux0.9/0", "nsga2+ux0.9/1", "nsga2/0", "random/0", "random/1"]
    assert re.fullmatch(rf"budget=8 nsga2={NUMBER} random={NUMBER} p={NUMBER}", crossed[-2]), crossed
    assert re.fullmatch(rf"budget=8 nsga2\+ux0.9={NUMBER} random={NUMBER} p={NUMBER}", crossed[-1]), crossed
    assert any(line.startswith("| 8 | nsga2+ux0.9 | ") and "(n=2)" in line for line in crossed)  # both seeds reported
    assert run("darts_search.py", "--report", str(save))[-4:] == crossed[-4:]
    with pytest.raises(SystemExit, match="was made with"):
        run("darts_search.py", "--seeds", "0", *args[:2], "--pop-size", "5", *args[4:])
    doc = json.loads(save.read_text())
    doc["settings"]["estimator_defaults"] = {"members": "an earlier default"}  # runs of an estimator whose defaults changed
    save.write_text(json.dumps(doc))
    with pytest.raises(SystemExit, match="was made with"):
        run("darts_search.py", "--seeds", "0,1,2", *args)
    assert json.loads(save.read_text())["runs"] == again
    with pytest.raises(SystemExit) as bad:
        run("darts_search.py", "--estimator", "nope", "--save", str(tmp_path / "other.json"))
    assert bad.value.code == 2 and not (tmp_path / "other.json").exists()


def test_search_quality_reports_the_estimators_ceiling_when_every_network_is_estimated(tmp_path):
    data, table_path = shared_data("cifar10"), shared_data("nb201", "nb201_accuracy.csv")
    archs = load_table(str(table_path)).archs()
    table = load_table(str(table_path))
    save = tmp_path / "table.json"
    doc = {"space": "nb201", "estimator_seed": 0, "archs": archs, "estimator_options": {"table": {"path": "other.csv"}},
           "estimates": {"table": [100.0 - table.value(a, "cifar10_test_acc_200ep") for a in archs]}}
    save.write_text(json.dumps(doc))
    with pytest.raises(SystemExit, match="made with table path=other.csv, not "):
        run("search_quality.py", "--budgets", "20", "--seeds", "1", "--estimator", "table", "-E", f"path={table_path}",
            "--data-dir", str(data), "--table", str(table_path), "--estimates", str(save))
    del doc["estimator_options"]  # not recorded: the recomputed estimates check it
    save.write_text(json.dumps(doc))
    lines = run("search_quality.py", "--budgets", "20", "--seeds", "1", "--estimator", "table", "-E", f"path={table_path}",
                "--data-dir", str(data), "--table", str(table_path), "--estimates", str(save), "--crossover", "0.9")
    # The truth's own front is the true front.
    assert f"ceiling: the front of all {len(archs)} networks by table: hv=1.0000 igd_plus=0.0000 share=1.0000" in lines
    assert lines[-1].startswith("budget=20 ") and "population 20, uniform crossover 0.9; mean" in lines[0]
    values = dict(item.split("=") for item in lines[-1].split())
    assert values["nsga2"] == values["oracle"]  # the crossing search and its oracle twin, both on the truth
