import csv
import json
import subprocess
import sys

import pytest

from monas.cli.nsga import main
from monas.complexity import count_complexity
from monas.data import load_dataset
from monas.search.record import RunRecord
from search_spaces import SPACES
from tests.conftest import ROOT, SMALL_RUN_ARGS, shared_data


def check_run_directory(out, generations, pop_size, dataset_spec, space_options):
    config = json.loads((out / "config.json").read_text())
    assert config["config"]["generations"] == generations and "torch" in config["versions"]
    assert config["estimator_knobs"]["seed"] == config["config"]["seed"]

    archive = [json.loads(line) for line in (out / "archive.jsonl").read_text().splitlines()]
    assert len(archive) >= pop_size and len({a["arch"] for a in archive}) == len(archive)
    for row in archive:
        assert set(row["objectives"]) == {"error", "macs", "params"}
        assert row["seconds"] > 0 and 1 <= row["generation"] <= generations and row["status"] == "ok"

    with open(out / "generations.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["generation"]) for r in rows] == list(range(1, generations + 1))
    assert int(rows[-1]["evaluations"]) == len(archive)
    hv = [float(r["hypervolume"]) for r in rows]
    assert all(0 < h <= 1 for h in hv) and hv == sorted(hv)  # the archive front never gets worse

    pareto = json.loads((out / "pareto.json").read_text())
    assert pareto["members"]
    space = SPACES.create("darts", **space_options)
    for member in pareto["members"]:
        net = space.build(member["arch"], dataset_spec)
        macs, params = count_complexity(net, dataset_spec)
        assert macs == member["objectives"]["macs"] and params == member["objectives"]["params"]
    assert (out / "pareto.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_digits_search_writes_every_file(small_run):
    check_run_directory(small_run, 2, 6, load_dataset("digits", None).spec, {"init_channels": 4, "layers": 3})


@pytest.mark.parametrize("algorithm", ["age-moea2", "nsga3", "random", "sms-emoa"])
def test_every_algorithm_runs_a_tiny_search(algorithm, tmp_path):
    out = tmp_path / algorithm
    assert main([*SMALL_RUN_ARGS, "--pop-size", "4", "--algorithm", algorithm, "--out", str(out)]) == 0
    check_run_directory(out, 2, 4, load_dataset("digits", None).spec, {"init_channels": 4, "layers": 3})
    assert json.loads((out / "config.json").read_text())["config"]["algorithm"] == algorithm


def test_the_crossover_rate_is_the_spaces_unless_given_and_is_recorded(small_run, tmp_path):
    recorded = json.loads((small_run / "config.json").read_text())["config"]
    assert recorded["space"] == "darts" and recorded["crossover"] == SPACES.get("darts").crossover == 0.9
    nb201 = ["--space", "nb201", "-S", "channels=4", "-S", "cells_per_stage=1", "--dataset", "digits",
             "--estimator", "params", "--pop-size", "4", "--generations", "1", "--no-progress"]  # params: no calibration
    assert main([*nb201, "--out", str(tmp_path / "nb")]) == 0
    assert json.loads((tmp_path / "nb" / "config.json").read_text())["config"]["crossover"] == 0.0
    assert main([*nb201, "--crossover", "1", "--out", str(tmp_path / "crossed")]) == 0
    assert json.loads((tmp_path / "crossed" / "config.json").read_text())["config"]["crossover"] == 1.0
    assert main([*nb201, "--algorithm", "random", "--out", str(tmp_path / "random")]) == 0
    assert json.loads((tmp_path / "random" / "config.json").read_text())["config"]["crossover"] is None
    # The rate changes the search: the crossing run's second generation breeds other networks.
    assert main(["--resume", str(tmp_path / "nb"), "--generations", "2", "--no-progress"]) == 0
    assert main(["--resume", str(tmp_path / "crossed"), "--generations", "2", "--no-progress"]) == 0
    second = [{json.loads(line)["arch"] for line in (tmp_path / run / "archive.jsonl").read_text().splitlines()
               if json.loads(line)["generation"] == 2} for run in ("nb", "crossed")]
    assert second[0] != second[1]


def test_a_search_with_another_algorithm_resumes_with_it(tmp_path):
    args = [*SMALL_RUN_ARGS, "--pop-size", "4", "--algorithm", "sms-emoa"]
    assert main([*args, "--out", str(tmp_path / "whole")]) == 0
    once = [a if a != "2" else "1" for a in args]
    assert main([*once, "--out", str(tmp_path / "resumed")]) == 0
    assert main(["--resume", str(tmp_path / "resumed"), "--generations", "2", "--no-progress"]) == 0
    assert (tmp_path / "resumed" / "pareto.json").read_text() == (tmp_path / "whole" / "pareto.json").read_text()


def test_same_seed_same_run(small_run, tmp_path):
    assert main([*SMALL_RUN_ARGS, "--out", str(tmp_path / "again")]) == 0
    strip = lambda p: [{k: v for k, v in json.loads(l).items() if k != "seconds"} for l in p.read_text().splitlines()]
    assert strip(tmp_path / "again" / "archive.jsonl") == strip(small_run / "archive.jsonl")


def test_resume_continues_to_the_same_front(small_run, tmp_path):
    out = tmp_path / "resumed"
    args = [a if a != "2" else "1" for a in SMALL_RUN_ARGS]  # stop after one generation
    assert main([*args, "--out", str(out)]) == 0
    assert main(["--resume", str(out), "--generations", "2", "--no-progress"]) == 0
    assert (out / "pareto.json").read_text() == (small_run / "pareto.json").read_text()
    assert len(RunRecord.open(out).read_archive()) == len(RunRecord.open(small_run).read_archive())


def test_resume_does_not_repeat_recorded_evaluations(small_run, tmp_path):
    out = tmp_path / "resumed"
    args = [a if a != "2" else "1" for a in SMALL_RUN_ARGS]
    assert main([*args, "--out", str(out)]) == 0
    # Pretend the run was killed after evaluating generation 2 but before its checkpoint.
    done = (small_run / "archive.jsonl").read_text()
    (out / "archive.jsonl").write_text(done)
    assert main(["--resume", str(out), "--generations", "2", "--no-progress"]) == 0
    assert (out / "archive.jsonl").read_text() == done


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--space", "nope"], "unknown search space 'nope' (known: darts, "),
        (["--estimator", "nope"], "unknown estimator 'nope'"),
        (["--dataset", "nope"], "unknown dataset 'nope'"),
        (["--objectives", "error,flops"], "unknown objectives"),
        (["--pop-size", "1"], "--pop-size must be at least 2"),
        (["--generations", "0"], "--generations must be at least 1"),
        (["--pop-size", "ten"], "invalid int value"),
        (["-S", "layers=2"], "layers must be at least 3"),
        (["-S", "depth=2"], "unknown space option 'depth' (known: blocks, init_channels, layers)"),
        (["--estimator", "rwe", "-E", "head=svm"], "unknown head 'svm'"),
        (["-E", "n_train"], "is not KEY=VALUE"),
        (["-E", "seed=3"], "unknown estimator option 'seed'"),
        (["--device", "tpu"], "unknown --device"),
        (["--workers", "0"], "--workers must be at least 1"),
        (["--cluster", "slurm"], "--cluster slurm needs --cluster-config FILE"),
        (["--cluster-config", "x.yaml"], "--cluster-config needs --cluster slurm"),
        (["--cluster", "slurm", "--cluster-config", "/nonexistent.yaml"], "cannot read --cluster-config"),
        (["--cluster", "pbs"], "invalid choice: 'pbs'"),
        (["--scheduler", "tcp://127.0.0.1:1", "--workers", "2"], "drop --workers and --cluster"),
        (["--dataset", "imagefolder", "--data-dir", "/nonexistent"], "existing folder"),
        (["--dataset", "digits", "--estimator", "rwe", "-E", "n_train=5000"], "only 1438"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(argv, message, tmp_path, capsys):
    assert main([*argv, "--out", str(tmp_path / "run"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("run_nsga: error: ") and message in err


def test_an_existing_run_is_refused_and_left_unchanged(small_run, capsys):
    before = {p.name: p.read_bytes() for p in small_run.iterdir()}
    assert main([*SMALL_RUN_ARGS, "--out", str(small_run)]) == 2
    assert "already holds a run" in capsys.readouterr().err
    assert main(["--resume", str(small_run), "--seed", "4"]) == 2
    assert main(["--resume", str(small_run), "--overwrite"]) == 2
    assert {p.name: p.read_bytes() for p in small_run.iterdir()} == before


def test_resume_of_a_folder_without_a_run(tmp_path, capsys):
    assert main(["--resume", str(tmp_path)]) == 2
    assert "holds no monas run" in capsys.readouterr().err


def test_script_runs_as_a_subprocess_without_traceback(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(ROOT / "experiments" / "run_nsga.py"), "--space", "nope"], capture_output=True, text=True
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("run_nsga: error: unknown search space 'nope' (known: darts") and proc.stderr.count("\n") == 1


def test_cifar10_search_from_shared_data(tmp_path):
    root = shared_data("cifar10")
    out = tmp_path / "cifar"
    options = {"init_channels": 4, "layers": 3}
    argv = ["--dataset", "cifar10", "--data-dir", str(root), "-S", "init_channels=4", "-S", "layers=3", "--estimator", "rwe",
            "-E", "n_train=300", "-E", "n_val=200", "--pop-size", "4", "--generations", "2", "--no-progress", "--out", str(out)]
    assert main(argv) == 0
    check_run_directory(out, 2, 4, load_dataset("cifar10", root).spec, options)


def test_a_slurm_config_that_is_not_a_mapping(tmp_path, capsys):
    config = tmp_path / "slurm.yaml"
    config.write_text("- cores: 4\n")
    assert main(["--cluster", "slurm", "--cluster-config", str(config), "--out", str(tmp_path / "run")]) == 2
    assert "must hold a mapping" in capsys.readouterr().err


def test_missing_cifar10_without_network_is_one_line(tmp_path, capsys, monkeypatch):
    import torchvision

    class Offline:
        def __init__(self, root, train, download):
            if download:
                raise OSError("[Errno -3] Temporary failure in name resolution")
            raise RuntimeError("Dataset not found or corrupted. You can use download=True to download it")

    monkeypatch.setattr(torchvision.datasets, "CIFAR10", Offline)
    assert main(["--dataset", "cifar10", "--data-dir", str(tmp_path / "empty"), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "CIFAR-10 is not in" in err and "could not be downloaded" in err
    assert not (tmp_path / "run").exists()


def test_resume_with_a_corrupt_checkpoint_is_one_line(small_run, tmp_path, capsys):
    import shutil

    run = tmp_path / "copy"
    shutil.copytree(small_run, run)
    (run / "checkpoint.json").write_bytes(b"\x80\x04garbage")
    before = {p.name: p.read_bytes() for p in run.iterdir()}
    assert main(["--resume", str(run), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not a readable checkpoint" in err
    assert {p.name: p.read_bytes() for p in run.iterdir()} == before


def test_early_stop_flag_sets_the_train_estimator_option():
    from monas.cli.nsga import build_parser, config_from_args

    args = build_parser().parse_args(["--estimator", "train", "--early-stop", "curve", "-E", "stop_below=40"])
    config, _, _ = config_from_args(args)
    assert config.estimator_options == {"early_stop": "curve", "stop_below": 40.0}
    config, _, _ = config_from_args(build_parser().parse_args(["--estimator", "train"]))
    assert config.estimator_options == {}


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--early-stop", "curve"], "--early-stop needs --estimator train (got ensemble)"),
        (["--estimator", "synflow", "--early-stop", "none"], "--early-stop needs --estimator train (got synflow)"),
        (["--estimator", "train", "--early-stop", "patience"], "invalid choice: 'patience'"),
        (["--estimator", "train", "-E", "stop_below=50"], "needs early_stop=curve"),
    ],
)
def test_bad_early_stop_input_is_one_line_and_exit_2(argv, message, tmp_path, capsys):
    assert main([*argv, "--out", str(tmp_path / "run"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err
    assert not (tmp_path / "run").exists()


def test_search_with_early_stopped_training(tmp_path):
    out = tmp_path / "run"
    argv = ["--dataset", "digits", "--space", "nb201", "-S", "channels=4", "-S", "cells_per_stage=1", "--estimator", "train",
            "--early-stop", "curve", "-E", "n_train=100", "-E", "n_val=50", "-E", "epochs=2", "-E", "batch_size=32",
            "--pop-size", "2", "--generations", "1", "--seed", "1", "--no-progress", "--out", str(out)]
    assert main(argv) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["estimator_knobs"]["early_stop"] == "curve"
    archive = [json.loads(line) for line in (out / "archive.jsonl").read_text().splitlines()]
    assert len(archive) == 2 and all(row["status"] == "ok" and 0 <= row["objectives"]["error"] <= 100 for row in archive)


def test_default_scoring_sizes_shrink_to_the_dataset_and_are_recorded(tmp_path):
    out = tmp_path / "nb201"
    argv = ["--space", "nb201", "--dataset", "digits", "-S", "channels=4", "-S", "cells_per_stage=1", "--estimator", "rwe",
            "--pop-size", "2", "--generations", "1", "--no-progress", "--out", str(out)]
    assert main(argv) == 0
    config = json.loads((out / "config.json").read_text())
    # rwe's defaults (2000 + 1000) shrink in proportion to digits' 1438 training images
    assert config["scoring_images"] == {"n_train": 958, "n_val": 480}
    assert (config["estimator_knobs"]["n_train"], config["estimator_knobs"]["n_val"]) == (958, 480)
    assert config["config"]["estimator_options"] == {}  # what the user set, so a resume fits the same way


def test_explicit_scoring_sizes_that_do_not_fit_name_the_options(tmp_path, capsys):
    assert main(["--dataset", "digits", "--estimator", "rwe", "-E", "n_train=1000", "-E", "n_val=1000", "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "has only 1438" in err and "lower -E n_train / -E n_val" in err
    assert not (tmp_path / "run").exists()


def test_help_and_bad_input_need_no_torch(small_run):
    """``--help``, a bad flag and a taken --out are answered without importing torch
    (what makes them answer in about a second)."""
    script = (
        "import sys\n"
        "from monas.cli.nsga import main\n"
        f"assert main(['--space', 'darts', '--dataset', 'digits', '--out', {str(small_run)!r}]) == 2\n"
        "assert main(['--pop-size', 'ten']) == 2\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert "already holds a run" in proc.stderr
    for name in ("darts", "nb201", "mobilenetv3", "rwe", "naswot", "ensemble", "train"):
        assert f"\n  {name} " in proc.stdout
    assert "cells_per_stage=5" in proc.stdout and "|nor_conv_3x3~0|" in proc.stdout and "d=" in proc.stdout


def test_a_run_of_the_previous_version_resumes(small_run, tmp_path):
    """Archive lines of earlier versions called the failure field "error" and recorded
    counts as floats; their generation rows held the hypervolume unscaled (up to 1.1 ** 2)."""
    import shutil

    run = tmp_path / "old"
    shutil.copytree(small_run, run)
    rows = [json.loads(line) for line in (run / "archive.jsonl").read_text().splitlines()]
    for row in rows:
        row["error"] = row.pop("failure")
        row["objectives"] = {k: float(v) for k, v in row["objectives"].items()}
    old = "".join(json.dumps(row, sort_keys=True) + "\n" for row in rows)
    (run / "archive.jsonl").write_text(old)
    state = json.loads((run / "checkpoint.json").read_text())
    state["generations"] = [{**row, "hypervolume": row["hypervolume"] * 1.1**2} for row in state["generations"]]
    (run / "checkpoint.json").write_text(json.dumps(state))
    config = json.loads((run / "config.json").read_text())
    del config["config"]["crossover"]  # recorded before --crossover: that search did not cross over
    (run / "config.json").write_text(json.dumps(config))
    assert main(["--resume", str(run), "--generations", "3", "--no-progress"]) == 0
    text = (run / "archive.jsonl").read_text()
    assert text.startswith(old)  # nothing recorded was evaluated again
    assert all("failure" in json.loads(line) for line in text[len(old):].splitlines())
    with open(run / "generations.csv") as f:
        hv = [float(r["hypervolume"]) for r in csv.DictReader(f)]
    assert len(hv) == 3 and all(0 < h <= 1 for h in hv) and hv == sorted(hv)


def test_records_carry_no_float_noise(small_run):
    for line in (small_run / "archive.jsonl").read_text().splitlines():
        row = json.loads(line)
        assert isinstance(row["objectives"]["macs"], int) and isinstance(row["objectives"]["params"], int)
        assert round(row["objectives"]["error"], 6) == row["objectives"]["error"]


@pytest.mark.parametrize("module", ["monas.cli.train", "monas.cli.transfer", "monas.cli.hpo"])
def test_the_training_commands_answer_help_and_bad_flags_without_torch(module):
    script = (
        "import sys\n"
        f"from {module} import main\n"
        "assert main(['--no-such-flag']) == 2\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert "unrecognized arguments: --no-such-flag" in proc.stderr and "usage:" in proc.stdout


def test_resume_with_more_generations_extends_a_finished_search(small_run, tmp_path, capsys):
    import shutil

    out = shutil.copytree(small_run, tmp_path / "extended")
    assert main(["--resume", str(out), "--generations", "3", "--no-progress"]) == 0
    assert "gen   3/3" in capsys.readouterr().out
    longer = [a if a != "2" else "3" for a in SMALL_RUN_ARGS]
    assert main([*longer, "--out", str(tmp_path / "longer")]) == 0
    assert (out / "pareto.json").read_text() == (tmp_path / "longer" / "pareto.json").read_text()
    strip = lambda p: sorted(json.dumps({k: v for k, v in json.loads(l).items() if k != "seconds"}) for l in p.read_text().splitlines())
    assert strip(out / "archive.jsonl") == strip(tmp_path / "longer" / "archive.jsonl")
    assert json.loads((out / "config.json").read_text())["config"]["generations"] == 3
    assert main(["--resume", str(out), "--no-progress"]) == 0
    assert "has finished its 3 generations; nothing to do" in capsys.readouterr().out


def test_resume_after_a_torn_archive_line_appends_cleanly(small_run, tmp_path):
    import shutil

    out = shutil.copytree(small_run, tmp_path / "torn")
    done = (out / "archive.jsonl").read_text()
    with open(out / "archive.jsonl", "a") as f:
        f.write('{"arch": "Genotype(normal=[(')  # killed while appending
    assert main(["--resume", str(out), "--generations", "3", "--no-progress"]) == 0
    text = (out / "archive.jsonl").read_text()
    assert text.startswith(done) and len(RunRecord.open(out).read_archive()) == len(text.splitlines()) > len(done.splitlines())
