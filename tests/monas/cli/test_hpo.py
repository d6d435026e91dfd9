import json

import pytest

from monas.cli.hpo import main
from monas.io import read_lines
from monas.tune.driver import BEST, BEST_FLAGS, TRIALS
from tests.conftest import shared_data
from tests.monas.cli.bad_input import GENOTYPE
from tests.monas.cli.test_train import MBV3


@pytest.mark.parametrize("args, message", [
    (["--proxy", "prune:1.5"], "--proxy must be none or prune:R"),
    (["--proxy", "magnitude"], "--proxy must be none or prune:R"),
    (["--genotype", "Genotype(normal=[('conv_9x9', 0)])"], "error"),
    (["--time-budget", "0"], "--time-budget must be positive"),
    (["--haet", "--n-train", "100"], "--haet fixes the subsets"),
    (["--haet", "--early-stop", "curve"], "--early-stop curve needs a number of epochs"),
    (["--trial-budget", "5"], "--trial-budget applies only with --haet"),
    (["--min-epochs", "3", "--max-epochs", "2"], "--min-epochs <= --max-epochs"),
    (["--n-val", "500", "--n-train", "400"], "--n-val < --n-train"),
    (["--bogus"], "unrecognized arguments"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, args, message):
    argv = ["--genotype", GENOTYPE, "--out", str(tmp_path / "out"), *args]
    if args[:1] == ["--genotype"]:
        argv = argv[2:]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("run_hpo: error:") and message in err
    assert not (tmp_path / "out").exists()


def _tiny(out, *extra):
    return ["--genotype", GENOTYPE, "--data-dir", str(shared_data("cifar10")), "--n-train", "200", "--n-val", "60",
            "--n-test", "50", "--init-channels", "4", "--layers", "3", "--max-epochs", "2", "--max-trials", "2",
            "--time-budget", "120", "--device", "cpu", "--out", str(out), *extra]


def test_tiny_real_run_with_a_pruned_proxy_then_resume(tmp_path, capsys, one_thread):
    out = tmp_path / "hpo"
    assert main(_tiny(out, "--proxy", "prune:0.5")) == 0
    printed = capsys.readouterr().out
    assert "proxy prune:0.5:" in printed and "s/epoch" in printed and "test accuracy" in printed
    trials = read_lines(out / TRIALS)
    assert len(trials) == 2 and all(t["status"] == "ok" and t["info"]["proxy"] == 0.5 for t in trials)
    final = json.loads((out / "final.json").read_text())
    assert final["proxy"]["macs"] < 0.5 * final["macs"]
    flags = (out / BEST_FLAGS).read_text().split()
    assert "--lr" in flags and "--eval-every" not in flags
    assert json.loads((out / BEST).read_text())["trial"]["number"] in (0, 1)

    assert main(_tiny(out, "--proxy", "prune:0.5")) == 2  # an existing run is refused
    assert "--resume" in capsys.readouterr().err
    # Resuming with a larger trial limit replays the 2 logged trials and runs 1 more.
    assert main([*_tiny(out, "--proxy", "prune:0.5"), "--resume", "--max-trials", "3"]) == 0
    assert len(read_lines(out / TRIALS)) == 3
    assert capsys.readouterr().out.count("run_hpo: trial 2:") == 1
    assert main([*_tiny(out, "--proxy", "prune:0.25"), "--resume"]) == 2  # other settings


def test_haet_mode_trains_each_trial_for_the_trial_budget(tmp_path, capsys, one_thread):
    out = tmp_path / "haet"
    argv = ["--genotype", GENOTYPE, "--data-dir", str(shared_data("cifar10")), "--haet", "--trial-budget", "1",
            "--init-channels", "4", "--layers", "3", "--max-trials", "2", "--time-budget", "60", "--device", "cpu",
            "--out", str(out)]
    assert main(argv) == 0
    config = json.loads((out / "config.json").read_text())
    assert (config["n_train"], config["n_test"], config["trial_budget"]) == (5000, 1000, 1.0)
    for trial in read_lines(out / TRIALS):
        assert "epochs" not in trial["values"]
        assert 1.0 <= trial["info"]["train_seconds"] < 3.0
    assert "--time-budget 1.0" in (out / BEST_FLAGS).read_text()


def test_a_mobilenetv3_architecture_is_tuned_from_the_ofa_recipe(tmp_path, one_thread):
    out = tmp_path / "mbv3"
    assert main(["--space", "mobilenetv3", "--arch", MBV3, "--dataset", "digits", "--n-train", "200", "--n-val", "60",
                 "--n-test", "40", "--net", "width=0.25", "--max-epochs", "1", "--max-trials", "1", "--time-budget",
                 "120", "--device", "cpu", "--out", str(out)]) == 0
    config = json.loads((out / "config.json").read_text())
    assert (config["space"], config["recipe"], config["width"], config["dropout"]) == ("mobilenetv3", "ofa", 0.25, 0.1)
    assert "init_channels" not in config
    (trial,) = read_lines(out / TRIALS)
    assert trial["status"] == "ok"
    best = json.loads((out / BEST).read_text())["config"]
    assert (best["momentum"], best["auxiliary_weight"], best["warmup_epochs"]) == (0.9, 0.0, 5.0)  # the ofa recipe's
    assert json.loads((out / "final.json").read_text())["test_accuracy"] >= 0
