import json
import subprocess
import sys

import pytest

from monas.complexity import count_complexity
from monas.data import load_dataset
from monas.cli.evaluate import main
from search_spaces import SPACES
from search_spaces.darts.genotypes import DARTS_V2
from tests.conftest import ROOT

DARTS_OPTIONS = {"init_channels": 4, "layers": 3}
DARTS_ARGS = ["--space", "darts", "--dataset", "digits", "-S", "init_channels=4", "-S", "layers=3", "--estimator", "rwe",
              "-E", "n_train=200", "-E", "n_val=100", "--no-progress"]
NB201_ARCH = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
NB201_ARGS = ["--space", "nb201", "--dataset", "digits", "-S", "channels=4", "-S", "cells_per_stage=1", "--estimator", "rwe",
              "-E", "n_train=200", "-E", "n_val=100", "--no-progress"]


def cheap_darts_string():
    """Skip connections and max-pools on inputs 0, each node listing skip_connect first,
    so that the canonical string (pairs sorted) differs from this one."""
    space = SPACES.create("darts", **DARTS_OPTIONS)
    genome = space.bounds[0].copy()
    genome[0::2] = [2, 0] * (len(genome) // 4)
    return space.to_string(genome)


def write(path, lines):
    path.write_text("\n".join(lines) + "\n")
    return path


def read_rows(text):
    return [json.loads(line) for line in text.splitlines()]


def check_complexity(row, space_name, options):
    spec = load_dataset("digits", None).spec
    macs, params = count_complexity(SPACES.create(space_name, **options).build(row["arch"], spec), spec)
    assert row["objectives"]["macs"] == macs and row["objectives"]["params"] == params


def test_darts_genotypes_scored_to_a_file(tmp_path, capsys):
    other = cheap_darts_string()
    genotypes = write(tmp_path / "genotypes.txt", ["# published and random", "", DARTS_V2, "   ", other, DARTS_V2])
    out = tmp_path / "sub" / "scores.jsonl"
    assert main([*DARTS_ARGS, "--genotypes", str(genotypes), "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.strip() == f"evaluate: 3 scored, 0 failed; written to {out}"

    rows = read_rows(out.read_text())
    assert [r["line"] for r in rows] == [3, 5, 6]
    space = SPACES.create("darts", **DARTS_OPTIONS)
    for row, text in zip(rows, [DARTS_V2, other, DARTS_V2]):
        assert set(row) == {"arch", "line", "genome", "objectives", "seconds", "status", "failure"}
        assert row["arch"] == space.canonical(space.from_string(text))
        assert set(row["objectives"]) == {"error", "macs", "params"}
        assert 0 <= row["objectives"]["error"] <= 100 and row["status"] == "ok" and row["failure"] is None
        assert row["seconds"] > 0
        check_complexity(row, "darts", DARTS_OPTIONS)
    assert rows[1]["arch"] != other and rows[1]["arch"].startswith("Genotype(normal=[('max_pool_3x3', 0), ('skip_connect', 0)")
    assert rows[2] == {**rows[0], "line": 6}  # a repeated architecture gets the same scores


def test_stdout_when_no_out_and_nb201_space(tmp_path, capsys):
    genotypes = write(tmp_path / "nb201.txt", [NB201_ARCH])
    assert main([*NB201_ARGS, "--genotypes", str(genotypes)]) == 0
    captured = capsys.readouterr()
    (row,) = read_rows(captured.out)
    assert row["arch"] == NB201_ARCH and row["line"] == 1 and row["status"] == "ok"
    check_complexity(row, "nb201", {"channels": 4, "cells_per_stage": 1})
    assert captured.err.strip() == "evaluate: 1 scored, 0 failed; written to stdout"


def test_latency_is_measured_on_request(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("monas.latency.MIN_RUN_S", 0.01)
    genotypes = write(tmp_path / "nb201.txt", [NB201_ARCH])
    assert main([*NB201_ARGS, "--genotypes", str(genotypes), "--latency-device", "cpu", "--latency-batch", "2"]) == 0
    (row,) = read_rows(capsys.readouterr().out)
    assert set(row["objectives"]) == {"error", "macs", "params", "latency"} and row["objectives"]["latency"] > 0


@pytest.mark.parametrize(
    "space, line, message",
    [
        ("darts", "definitely not a genotype", "not a Genotype string"),
        ("darts", DARTS_V2.replace("dil_conv_3x3", "sep_conv_7x7"), "operation 'sep_conv_7x7' is not in the darts space (known: "),
        ("darts", NB201_ARCH, "not a Genotype string"),
        ("darts", "Genotype(normal=[], normal_concat=5, reduce=[], reduce_concat=[])", "normal_concat must list node numbers"),
        ("nb201", DARTS_V2, "not a NAS-Bench-201 arch string"),
        ("nb201", NB201_ARCH.replace("avg_pool_3x3", "max_pool_3x3"), "operation 'max_pool_3x3' is not in the nb201 space"),
    ],
)
def test_malformed_line_is_one_line_exit_2_and_nothing_written(space, line, message, tmp_path, capsys):
    good = DARTS_V2 if space == "darts" else NB201_ARCH
    genotypes = write(tmp_path / "genotypes.txt", ["# header", good, line, good])
    out = tmp_path / "scores.jsonl"
    args = DARTS_ARGS if space == "darts" else NB201_ARGS
    assert main([*args, "--genotypes", str(genotypes), "--out", str(out)]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1
    assert captured.err.startswith(f"evaluate: error: {genotypes} line 3: ") and message in captured.err
    assert not out.exists() and list(tmp_path.iterdir()) == [genotypes]


def test_existing_out_is_refused_unchanged_unless_overwrite(tmp_path, capsys):
    genotypes = write(tmp_path / "nb201.txt", [NB201_ARCH])
    out = write(tmp_path / "scores.jsonl", ["keep me"])
    assert main([*NB201_ARGS, "--genotypes", str(genotypes), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err == f"evaluate: error: {out} already holds scores; pass --resume to continue it or --overwrite to replace it\n"
    assert out.read_text() == "keep me\n"

    assert main([*NB201_ARGS, "--genotypes", str(genotypes), "--out", str(out), "--overwrite"]) == 0
    (row,) = read_rows(out.read_text())
    assert row["arch"] == NB201_ARCH and row["status"] == "ok"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["nb201.txt", "scores.jsonl"]  # no temporary left


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--space", "nope"], "unknown search space 'nope' (known: darts"),
        (["--space", "darts", "--estimator", "nope"], "unknown estimator 'nope'"),
        (["--space", "darts", "--dataset", "nope"], "unknown dataset 'nope'"),
        (["--space", "darts", "-S", "depth=2"], "unknown space option 'depth'"),
        (["--space", "darts", "-E", "seed=3"], "unknown estimator option 'seed'"),
        (["--space", "darts", "--device", "tpu"], "unknown --device"),
        (["--genotypes", "x.txt"], "the following arguments are required: --space"),
        (["--space", "darts", "--genotypes", "/nonexistent/genotypes.txt"], "cannot read --genotypes /nonexistent/genotypes.txt"),
        (["--space", "darts", "--dataset", "digits", "--estimator", "rwe", "-E", "n_train=5000"], "only 1438"),
    ],
)
def test_bad_options_are_one_line_and_exit_2(argv, message, tmp_path, capsys):
    genotypes = write(tmp_path / "genotypes.txt", [DARTS_V2])
    if "--genotypes" not in argv:
        argv = [*argv, "--genotypes", str(genotypes)]
    assert main([*argv, "--out", str(tmp_path / "scores.jsonl")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("evaluate: error: ") and message in err
    assert not (tmp_path / "scores.jsonl").exists()


def test_file_without_architectures_and_out_folder(tmp_path, capsys):
    genotypes = write(tmp_path / "genotypes.txt", ["# nothing here", ""])
    assert main([*DARTS_ARGS, "--genotypes", str(genotypes)]) == 2
    assert "lists no architectures" in capsys.readouterr().err
    write(genotypes, [DARTS_V2])
    assert main([*DARTS_ARGS, "--genotypes", str(genotypes), "--out", str(tmp_path)]) == 2
    assert "is a folder" in capsys.readouterr().err


def test_script_runs_as_a_subprocess_without_traceback(tmp_path):
    genotypes = write(tmp_path / "genotypes.txt", [DARTS_V2, "", "# ok so far", "Genotype(normal=["])
    out = tmp_path / "scores.jsonl"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "experiments" / "evaluate.py"), *DARTS_ARGS, "--genotypes", str(genotypes), "--out", str(out)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and proc.stdout == ""
    assert proc.stderr.strip().splitlines() == [f"evaluate: error: {genotypes} line 4: not a Genotype string: '[' was never closed"]
    assert not out.exists()
