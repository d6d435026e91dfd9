import csv
import json

import pytest
import torch

from monas.complexity import count_complexity
from monas.cli.train import main
from search_spaces.base import InputSpec
from search_spaces.darts.genotypes import DARTS_V2, NSGA_NET, parse_genotype
from search_spaces.darts.model import NetworkCIFAR
from tests.conftest import shared_data

MBV3 = "d=2,2,2,2,2|k=3,5,7,3,5,7,3,5,7,3|e=6,4,3,6,4,3,6,4,3,6"
NB201 = "|nor_conv_3x3~0|+|none~0|skip_connect~1|+|avg_pool_3x3~0|nor_conv_1x1~1|none~2|"

TINY = ["--init-channels", "4", "--layers", "3", "--batch-size", "8", "--loader-workers", "0", "--eval-batch-size", "32"]


def test_cifar10_for_a_few_steps(tmp_path, capsys):
    data = shared_data("cifar10")
    argv = ["--genotype", DARTS_V2, "--data-dir", str(data), "--train-limit", "32", "--test-limit", "16", *TINY,
            "--epochs", "2", "--max-steps", "5", "--out", str(tmp_path)]
    assert main(argv) == 0
    result = json.loads((tmp_path / "result.json").read_text())
    net = NetworkCIFAR(parse_genotype(DARTS_V2), 4, 3, 10)
    assert (result["macs"], result["params"]) == count_complexity(net, InputSpec(3, 32, 10))
    assert result["steps"] == 5 and result["epochs"] == 1.25 and 0 <= result["test_accuracy"] <= 100
    assert result["config"]["cutout"] == 16 and result["config"]["auxiliary_weight"] == 0.4
    rows = list(csv.DictReader((tmp_path / "metrics.csv").open()))
    assert [int(r["step"]) for r in rows] == [4, 5]
    assert "test accuracy" in capsys.readouterr().out

    # The same command again is refused; --resume finds the run finished; other settings are refused.
    assert main(argv) == 2
    assert "already holds a training run" in capsys.readouterr().err
    assert main([*argv, "--resume"]) == 0
    assert main([*argv, "--resume", "--lr", "0.1"]) == 2
    assert "lr=0.025" in capsys.readouterr().err
    # A run.json from before other spaces could train (no space, no recipe) is a darts run.
    recorded = json.loads((tmp_path / "run.json").read_text())
    assert (recorded["space"], recorded["recipe"]) == ("darts", "darts")
    (tmp_path / "run.json").write_text(json.dumps({k: v for k, v in recorded.items() if k not in ("space", "recipe")}))
    assert main([*argv, "--resume"]) == 0
    assert "already finished" in capsys.readouterr().out


def test_pareto_members_of_a_run_train_into_one_folder_each(small_run, tmp_path, capsys):
    assert main(["--run", str(small_run), "--pick", "all", "--list"]) == 0
    listed = capsys.readouterr().out
    assert listed.startswith("member   error %") and "member 0: Genotype(" in listed
    members = json.loads((small_run / "pareto.json").read_text())["members"]
    picks = "0" if len(members) == 1 else f"index:0,{len(members) - 1}"
    argv = ["--run", str(small_run), "--pick", picks, "--dataset", "digits", "--train-limit", "32", "--test-limit",
            "16", *TINY, "--epochs", "1", "--early-stop", "curve", "--out", str(tmp_path)]
    assert main(argv) == 0
    folders = sorted(p.name for p in tmp_path.iterdir())
    assert folders == (["member0"] if len(members) == 1 else ["member0", f"member{len(members) - 1}"])
    result = json.loads((tmp_path / "member0" / "result.json").read_text())
    assert result["genotype"] == members[0]["arch"] and result["run"] == str(small_run) and result["member"] == 0
    assert result["config"]["eval_every"] == 0.5 and "prediction" in result


@pytest.mark.parametrize("argv, message", [
    ([], "either --genotype"),
    (["--genotype", DARTS_V2, "--run", "x"], "either --genotype"),
    (["--genotype", "Genotype(normal=["], "not a Genotype string"),
    (["--genotype", DARTS_V2.replace("sep_conv_3x3", "conv_7x7")], "not in the darts space"),
    (["--run", "/nonexistent"], "no monas run"),
    (["--genotype", DARTS_V2, "--epochs", "0"], "epochs must be positive"),
    (["--genotype", DARTS_V2, "--schedule", "step"], "unknown schedule"),
    (["--genotype", DARTS_V2, "--init-channels", "5"], "even number"),
    (["--genotype", DARTS_V2, "--resume", "--overwrite"], "exclude each other"),
    (["--arch", MBV3], "--arch needs --space"),
    (["--space", "nosuch", "--arch", MBV3], "unknown search space 'nosuch'"),
    (["--space", "nb201", "--genotype", DARTS_V2], "--genotype is a darts architecture"),
    (["--space", "nb201", "--arch", MBV3], "not a NAS-Bench-201 arch string"),
    (["--space", "mobilenetv3", "--arch", MBV3, "--recipe", "nosuch"], "unknown --recipe 'nosuch' (known: darts, ofa"),
    (["--space", "mobilenetv3", "--arch", MBV3, "--init-channels", "8"], "no network setting 'init_channels'"),
    (["--space", "mobilenetv3", "--arch", MBV3, "--net", "depth=3"], "(known: width, dropout)"),
    (["--space", "mobilenetv3", "--arch", MBV3, "--net", "width=wide"], "--net width='wide' is not a valid float"),
    (["--space", "mobilenetv3", "--arch", MBV3, "--net", "width=nan"], "--net width=nan must be a finite"),
    (["--space", "nb201", "--arch", NB201, "--net", "cells_per_stage=5000"], "of at most 1000"),
    (["--space", "nb201", "--arch", NB201, "--net", "channels"], "is not KEY=VALUE"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, argv, message):
    assert main([*argv, "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("train_cifar: error:") and message in err and "\n" not in err
    assert not (tmp_path / "out").exists()


def test_a_run_of_another_space_is_refused(small_run, capsys):
    assert main(["--run", str(small_run), "--space", "nb201", "--list"]) == 2
    assert "searched the 'darts' space, not 'nb201'" in capsys.readouterr().err


def test_any_space_and_any_darts_cell_can_be_listed(capsys):
    for argv in (["--space", "mobilenetv3", "--arch", MBV3], ["--space", "nb201", "--arch", NB201],
                 ["--genotype", NSGA_NET], ["--space", "darts", "--arch", NSGA_NET]):
        assert main([*argv, "--list"]) == 0
        assert capsys.readouterr().out.strip() == argv[-1]


def test_a_bad_pick_names_the_front(small_run, capsys):
    assert main(["--run", str(small_run), "--pick", "index:99", "--list"]) == 2
    assert "member 99 does not exist" in capsys.readouterr().err


def test_auxiliary_weight_zero_builds_no_auxiliary_head(tmp_path):
    data = shared_data("cifar10")
    assert main(["--genotype", DARTS_V2, "--data-dir", str(data), "--train-limit", "16", "--test-limit", "8", *TINY,
                 "--auxiliary-weight", "0", "--epochs", "1", "--max-steps", "1", "--out", str(tmp_path)]) == 0
    state = torch.load(tmp_path / "checkpoint.pt", weights_only=False)
    assert not any(key.startswith("auxiliary_head") for key in state["model"])
