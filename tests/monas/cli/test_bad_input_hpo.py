"""run_hpo refuses bad input with one line and exit 2, leaving an earlier run as it was
byte for byte (--resume checks config.json and trials.jsonl before rewriting either);
nothing is written through a link; one process per run folder."""
import json

import pytest

from monas.cli.hpo import main
from monas.io import RunLock, read_lines
from monas.tune.driver import TRIALS
from tests.monas.cli.bad_input import BAD_GENOTYPES, GENOTYPE, assert_refused, copy_run, fingerprint, image_folder, link

BASE = ["--dataset", "digits", "--genotype", GENOTYPE, "--n-train", "200", "--n-val", "60", "--n-test", "40",
        "--init-channels", "4", "--layers", "3", "--max-epochs", "1", "--max-trials", "1", "--time-budget", "120",
        "--device", "cpu"]


@pytest.fixture(scope="module")
def earlier(tmp_path_factory):
    """A small finished tuning run: one trial, then the final training."""
    out = tmp_path_factory.mktemp("hpo") / "earlier"
    assert main([*BASE, "--out", str(out)]) == 0
    return out


def write(name, text):
    def make(run):
        (run / name).write_text(text)
    return make


def corrupt_trials(run):
    """A bad line before the last one: not a torn write, a damaged log."""
    lines = (run / TRIALS).read_text()
    (run / TRIALS).write_text("{broken\n" + lines)


def corrupt_images(damage):
    def make(run):
        image_folder(run.parent / "images", ("train", "test"), per_class=120, size=16, damage=damage)
    return make


CASES = {
    # numbers
    "time-budget nan": (["--time-budget", "nan"], None, "--time-budget must be positive"),
    "time-budget inf": (["--time-budget", "inf"], None, "--time-budget must be positive"),
    "time-budget 1e300": (["--time-budget", "1e300"], None, "at most 1e+09 seconds"),
    "time-budget negative": (["--time-budget=-1"], None, "--time-budget must be positive"),
    "time-budget 0": (["--time-budget", "0"], None, "--time-budget must be positive"),
    "trial-budget inf": (["--haet", "--trial-budget", "inf", "--n-train", "200"], None, "--haet fixes the subsets"),
    "haet trial-budget inf": (["--haet", "--trial-budget", "inf"], None, "--trial-budget must be positive"),
    "haet trial-budget nan": (["--haet", "--trial-budget", "nan"], None, "--trial-budget must be positive"),
    "trial-budget without haet": (["--trial-budget", "5"], None, "--trial-budget applies only with --haet"),
    "seed -1": (["--seed", "-1"], None, "--seed must be between 0"),
    "seed huge": (["--seed", str(2**40)], None, "--seed must be between 0"),
    "max-trials 0": (["--max-trials", "0"], None, "--max-trials must be between 1"),
    "max-trials absurd": (["--max-trials", str(10**12)], None, "--max-trials must be between 1"),
    "min-epochs 0": (["--min-epochs", "0"], None, "--min-epochs <= --max-epochs"),
    "max-epochs absurd": (["--max-epochs", str(10**9)], None, "--max-epochs <="),
    "min above max": (["--min-epochs", "3", "--max-epochs", "2"], None, "--min-epochs <= --max-epochs"),
    "n-train 0": (["--n-train", "0", "--n-val", "10"], None, "--n-val < --n-train"),
    "n-train absurd": (["--n-train", str(10**9), "--n-val", "10"], None, "the training split has only"),
    "n-val 0": (["--n-val", "0"], None, "1 <= --n-val"),
    "n-val above n-train": (["--n-val", "500", "--n-train", "400"], None, "--n-val < --n-train"),
    "n-test 0": (["--n-test", "0"], None, "--n-test >= 1"),
    "proxy prune:nan": (["--proxy", "prune:nan"], None, "--proxy must be none or prune:R"),
    "proxy prune:1": (["--proxy", "prune:1"], None, "--proxy must be none or prune:R"),
    "proxy unknown": (["--proxy", "magnitude"], None, "--proxy must be none or prune:R"),
    "init-channels 100000": (["--init-channels", "100000"], None, "parameters (more than"),
    "init-channels odd": (["--init-channels", "3"], None, "even number"),
    "layers 2": (["--layers", "2"], None, "--layers between 3"),
    "haet with early stop": (["--haet", "--early-stop", "curve"], None, "--early-stop curve needs a number of epochs"),
    # genotypes
    **{f"genotype {kind}": (["--genotype", text], None, "error:") for kind, text in BAD_GENOTYPES.items()},
    "two genotypes": (["--genotype", GENOTYPE, "--genotype", GENOTYPE], None, "run_hpo tunes one genotype"),
    # devices, datasets
    "device cuda without CUDA": (["--device", "cuda"], None, "no CUDA device"),
    "device unknown": (["--device", "tpu9"], None, "unknown --device"),
    "dataset unknown": (["--dataset", "nosuch"], None, "nosuch"),
    "space unknown": (["--space", "nosuch"], None, "unknown search space 'nosuch'"),
    "space not the genotype's": (["--space", "nb201"], None, "--genotype is a darts architecture"),
    "corrupt image": (["--dataset", "imagefolder", "--data-dir", "TMP/images"], corrupt_images("corrupt"),
                      "0.png is not a readable image"),
    "truncated image": (["--dataset", "imagefolder", "--data-dir", "TMP/images"], corrupt_images("truncated"),
                        "0.png is not a readable image"),
    # folders
    "out empty": (["--out", ""], None, "--out must name a folder"),
    "out is a file": (["--out", "OUT/final.json"], None, "is a file, not a folder"),
    "out under a file": (["--out", "OUT/final.json/sub"], None, "is a file, not a folder"),
    "out is a search folder": ([], write("archive.jsonl", ""), "another kind of monas run (archive.jsonl)"),
    "out is a training folder": ([], write("run.json", "{}\n"), "another kind of monas run (run.json)"),
    "symlinked trials": ([], link(TRIALS), "symbolic link"),
    "dangling symlinked best": ([], link("best.json", dangling=True), "symbolic link"),
    # resuming: everything is checked before config.json is rewritten
    "resume corrupt trials": (["--resume", "--max-trials", "5"], corrupt_trials, "trials.jsonl line 1 is corrupt"),
    "resume other settings": (["--resume", "--proxy", "prune:0.5"], None, "tunes with proxy=None"),
    "resume tampered config": (["--resume", "--max-trials", "5"], write("config.json", "{not json"), "is unreadable"),
    "resume config not an object": (["--resume", "--max-trials", "5"], write("config.json", "[]\n"),
                                    "is not a JSON object"),
    "resume config with other values": (["--resume", "--max-trials", "5"],
                                        lambda run: write("config.json", json.dumps(
                                            {**json.loads((run / "config.json").read_text()), "n_train": "lots"}))(run),
                                        "tunes with n_train='lots'"),
    "resume without a run": (["--resume", "--out", "TMP/empty"], lambda run: (run.parent / "empty").mkdir(),
                             "holds no monas run"),
    "resume symlinked trials": (["--resume", "--max-trials", "5"], link(TRIALS), "symbolic link"),
    "resume and overwrite": (["--resume"], None, "exclude each other"),
    "existing run": ([], None, "already holds a run"),
}


def argv_for(extra, tmp_path, out):
    argv = [*BASE, "--out", str(out)]
    if "--genotype" in extra:
        argv.remove("--genotype")
        argv.remove(GENOTYPE)
    if "--out" in extra:
        argv = argv[:-2]
    for flag in ("--n-train", "--n-val", "--n-test"):  # given again, or fixed by --haet
        if flag in extra or "--haet" in extra:
            i = argv.index(flag)
            del argv[i:i + 2]
    if "--resume" not in extra:
        argv.append("--overwrite")  # every refusal must come before the earlier run is replaced
    return argv + [a.replace("OUT", str(out)).replace("TMP", str(tmp_path)) for a in extra]


@pytest.mark.parametrize("extra, setup, message", CASES.values(), ids=CASES.keys())
def test_bad_input_is_one_line_exit_2_and_the_earlier_run_unchanged(earlier, tmp_path, capsys, extra, setup, message):
    out = copy_run(earlier, tmp_path / "run")
    if setup is not None:
        setup(out)
    before = fingerprint(tmp_path)
    argv = argv_for(extra, tmp_path, out)
    if message == "already holds a run":
        argv.remove("--overwrite")
    if message == "exclude each other":
        argv.append("--overwrite")
    assert_refused(main(argv), capsys.readouterr().err, "run_hpo", message)
    assert fingerprint(tmp_path) == before


def test_resuming_a_finished_run_with_the_same_budget_changes_nothing(earlier, tmp_path, capsys):
    out = copy_run(earlier, tmp_path / "run")
    before = fingerprint(out)
    assert main([*BASE, "--out", str(out), "--resume"]) == 0
    assert "nothing to do" in capsys.readouterr().out
    assert fingerprint(out) == before


def test_a_symlinked_trials_log_is_not_written_through(earlier, tmp_path, capsys):
    out = copy_run(earlier, tmp_path / "run")
    outside = tmp_path / "outside.jsonl"
    outside.write_text((out / TRIALS).read_text())
    (out / TRIALS).unlink()
    (out / TRIALS).symlink_to(outside)
    before = outside.read_text()
    assert main([*BASE, "--out", str(out), "--resume", "--max-trials", "2"]) == 2
    assert "symbolic link" in capsys.readouterr().err
    assert outside.read_text() == before


def test_a_locked_folder_is_refused_naming_the_holder(earlier, tmp_path, capsys):
    out = copy_run(earlier, tmp_path / "run")
    lock = RunLock(out).acquire()  # another open file description: flock refuses a second one
    try:
        before = fingerprint(out)
        assert_refused(main([*BASE, "--out", str(out), "--resume", "--max-trials", "2"]), capsys.readouterr().err,
                       "run_hpo", "in use by another monas process (pid")
        assert fingerprint(out) == before
    finally:
        lock.release()


def test_a_crashed_start_does_not_block_the_same_command(earlier, tmp_path, monkeypatch, capsys):
    out = tmp_path / "run"

    def crash(*args, **kwargs):
        raise RuntimeError("NOMAD crashed")

    monkeypatch.setattr("monas.tune.driver.tune", crash)
    with pytest.raises(RuntimeError):
        main([*BASE, "--out", str(out)])
    assert not out.exists()  # the failed start took its folder with it
    monkeypatch.undo()
    out.mkdir()
    (out / "config.json").write_text((earlier / "config.json").read_text())  # what a kill before the first trial leaves
    assert main([*BASE, "--out", str(out)]) == 0
    assert len(read_lines(out / TRIALS)) == 1


def test_overwrite_replaces_a_run_whose_log_is_damaged(earlier, tmp_path):
    out = copy_run(earlier, tmp_path / "run")
    corrupt_trials(out)
    assert main([*BASE, "--out", str(out), "--overwrite"]) == 0
    assert len(read_lines(out / TRIALS)) == 1
    assert not [p for p in out.iterdir() if p.name.startswith(".replaced-")]
