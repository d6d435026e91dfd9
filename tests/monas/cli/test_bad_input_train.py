"""train_cifar refuses bad input with one line and exit 2, leaving an earlier run as it
was byte for byte; checkpoints hold no code; nothing is written through a link; one
process per run folder."""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from monas.io import RunLock
from monas.cli.train import main
from tests.conftest import ROOT
from tests.monas.cli.bad_input import BAD_GENOTYPES, GENOTYPE, assert_refused, copy_run, fingerprint, image_folder, link

TINY = ["--init-channels", "4", "--layers", "3", "--batch-size", "8", "--loader-workers", "0", "--eval-batch-size", "32"]
BASE = ["--dataset", "digits", "--genotype", GENOTYPE, "--train-limit", "32", "--test-limit", "16", *TINY,
        "--epochs", "1", "--max-steps", "2"]


@pytest.fixture(scope="module")
def earlier(tmp_path_factory):
    """A small finished training run."""
    out = tmp_path_factory.mktemp("train") / "earlier"
    assert main([*BASE, "--out", str(out)]) == 0
    return out


def unfinished(run):
    (run / "result.json").unlink()


def older_checkpoint(run):
    """A checkpoint as monas-train-1 wrote it: numpy and python objects pickled."""
    state = torch.load(run / "checkpoint.pt", weights_only=False)
    state["format"] = "monas-train-1"
    state["rng"] = [{**r, "numpy": np.random.get_state(), "python": (3, (1,) * 625, None)} for r in state["rng"]]
    torch.save(state, run / "checkpoint.pt")


def garbage_checkpoint(run):
    (run / "checkpoint.pt").write_bytes(b"\x80\x04not a checkpoint")


def second_folder_is_a_file(run):
    """--out holds the earlier run as genotype0 and a file where genotype1 would go."""
    inner = run / "genotype0"
    inner.mkdir()
    for entry in list(run.iterdir()):
        if entry != inner:
            entry.rename(inner / entry.name)
    (run / "genotype1").write_text("a file\n")


def search_folder(run):
    (run / "archive.jsonl").write_text("")


def tuning_folder(run):
    (run / "trials.jsonl").write_text("")


def run_json(text):
    def make(run):
        (run / "run.json").write_text(text)
    return make


def corrupt_images(damage):
    def make(run):
        image_folder(run.parent / "images", ("train", "test"), per_class=16, size=16, damage=damage)
    return make


def damaged_front(run):
    front = run.parent / "front"
    front.mkdir()
    (front / "config.json").write_text('{"config": {"space": "darts"}}\n')
    (front / "pareto.json").write_text('{"members": [{"arch": 3}]}\n')


GOOD_TWO = ["--genotype", GENOTYPE, "--genotype", GENOTYPE]
CASES = {
    # numbers: NaN, infinite, negative, absurd
    "momentum nan": (["--momentum", "nan", "--overwrite"], None, "momentum must be a finite number"),
    "momentum 1.5": (["--momentum", "1.5", "--overwrite"], None, "momentum must be below 1"),
    "eval-every inf": (["--eval-every", "inf", "--overwrite"], None, "eval_every must be a finite number"),
    "eval-every 0": (["--eval-every", "0", "--overwrite"], None, "eval_every must be positive"),
    "time-budget 1e300": (["--time-budget", "1e300", "--overwrite"], None, "time_budget must be at most"),
    "time-budget inf": (["--time-budget", "inf", "--overwrite"], None, "time_budget must be a finite number"),
    "time-budget negative": (["--time-budget", "-5", "--overwrite"], None, "time_budget must be positive"),
    "seed -1": (["--seed", "-1", "--overwrite"], None, "seed must not be negative"),
    "seed huge": (["--seed", str(2**40), "--overwrite"], None, "seed must be at most"),
    "batch-size 1": (["--batch-size", "1", "--overwrite"], None, "batch_size must be at least 2"),
    "batch-size 0": (["--batch-size", "0", "--overwrite"], None, "batch_size must be positive"),
    "batch-size above the images": (["--batch-size", "64", "--overwrite"], None, "larger than the 32 training images"),
    "batch-size absurd": (["--batch-size", str(10**12), "--overwrite"], None, "batch_size must be at most"),
    "eval-batch-size 0": (["--eval-batch-size", "0", "--overwrite"], None, "eval_batch_size must be positive"),
    "epochs 0": (["--epochs", "0", "--overwrite"], None, "epochs must be positive"),
    "epochs negative": (["--epochs", "-3", "--overwrite"], None, "epochs must be positive"),
    "epochs absurd": (["--epochs", str(10**12), "--overwrite"], None, "epochs must be at most"),
    "epochs not a number": (["--epochs", "1e3", "--overwrite"], None, "invalid int value"),
    "lr nan": (["--lr", "nan", "--overwrite"], None, "lr must be a finite number"),
    "lr inf": (["--lr", "inf", "--overwrite"], None, "lr must be a finite number"),
    "lr negative": (["--lr", "-0.1", "--overwrite"], None, "lr must be positive"),
    "weight-decay nan": (["--weight-decay", "nan", "--overwrite"], None, "weight_decay must be a finite number"),
    "label-smoothing 1": (["--label-smoothing", "1", "--overwrite"], None, "must be below 1"),
    "drop-path -inf": (["--drop-path=-inf", "--overwrite"], None, "drop_path must be a finite number"),
    "grad-clip negative": (["--grad-clip", "-1", "--overwrite"], None, "grad_clip must not be negative"),
    "warmup inf": (["--warmup-epochs", "inf", "--overwrite"], None, "warmup_epochs must be a finite number"),
    "mixup nan": (["--mixup", "nan", "--overwrite"], None, "mixup must be a finite number"),
    "randaugment 99": (["--randaugment", "99", "--overwrite"], None, "randaugment must be at most 30"),
    "loader-workers absurd": (["--loader-workers", "100000", "--overwrite"], None, "loader_workers must be at most"),
    "max-steps 0": (["--max-steps", "0", "--overwrite"], None, "max_steps must be positive"),
    "checkpoint-every negative": (["--checkpoint-every-steps", "-1", "--overwrite"], None, "must be positive"),
    "schedule step": (["--schedule", "step", "--overwrite"], None, "unknown schedule"),
    "train-limit 0": (["--train-limit", "0", "--overwrite"], None, "--train-limit must be between 1"),
    "test-limit huge": (["--test-limit", "999999", "--overwrite"], None, "--test-limit must be between 1"),
    # network sizes
    "init-channels 100000": (["--init-channels", "100000", "--overwrite"], None, "parameters (more than"),
    "init-channels odd": (["--init-channels", "5", "--overwrite"], None, "even number"),
    "layers 2": (["--layers", "2", "--overwrite"], None, "--layers between 3"),
    "layers absurd": (["--layers", "100000", "--overwrite"], None, "--layers between 3"),
    # genotypes: the darts space's own checks
    **{f"genotype {kind}": (["--genotype", text, "--overwrite"], None, "error:")
       for kind, text in BAD_GENOTYPES.items()},
    # folders
    "out empty": (["--out", ""], None, "--out must name a folder"),
    "out is a file": (["--out", "OUT/result.json", "--overwrite"], None, "is a file, not a folder"),
    "out under a file": (["--out", "OUT/result.json/sub"], None, "is a file, not a folder"),
    "second genotype folder is a file": ([*GOOD_TWO, "--overwrite"], second_folder_is_a_file, "is a file, not a folder"),
    "out is a search folder": (["--overwrite"], search_folder, "another kind of monas run (archive.jsonl)"),
    "out is a tuning folder": (["--overwrite"], tuning_folder, "another kind of monas run (trials.jsonl)"),
    "existing run": ([], None, "already holds a training run"),
    "resume and overwrite": (["--resume", "--overwrite"], None, "exclude each other"),
    "symlinked metrics": (["--overwrite"], link("metrics.csv"), "symbolic link"),
    "dangling symlinked checkpoint": (["--overwrite"], link("checkpoint.pt", dangling=True), "symbolic link"),
    "symlinked lock file": (["--overwrite"], link(".monas.lock"), "symbolic link"),
    # resuming
    "resume other lr": (["--resume", "--lr", "0.1"], None, "lr=0.025, not 0.1"),
    "resume finished with more epochs": (["--resume", "--epochs", "3"], None, "a finished run is not extended"),
    "resume other genotype": (["--resume", "--genotype", BAD_GENOTYPES["unknown operation"].replace(
        "conv_9x9", "sep_conv_5x5")], None, "trains genotype="),
    "tampered run.json": (["--resume"], run_json("{not json"), "run.json is unreadable"),
    "run.json not an object": (["--resume"], run_json("[1, 2]\n"), "is not a JSON object"),
    "older checkpoint format": (["--resume"], lambda run: (unfinished(run), older_checkpoint(run)),
                                "older monas format"),
    "garbage checkpoint": (["--resume"], lambda run: (unfinished(run), garbage_checkpoint(run)),
                           "not a readable checkpoint"),
    # devices, datasets, sources
    "device cuda without CUDA": (["--device", "cuda", "--overwrite"], None, "no CUDA device"),
    "device unknown": (["--device", "tpu9", "--overwrite"], None, "unknown --device"),
    "device meta": (["--device", "meta", "--overwrite"], None, "unknown --device 'meta'"),
    "dataset unknown": (["--dataset", "nosuch", "--overwrite"], None, "nosuch"),
    "data-dir missing": (["--dataset", "imagefolder", "--data-dir", "TMP/nowhere", "--overwrite"], None, "nowhere"),
    "corrupt image": (["--dataset", "imagefolder", "--data-dir", "TMP/images", "--overwrite"],
                      corrupt_images("corrupt"), "0.png is not a readable image"),
    "truncated image": (["--dataset", "imagefolder", "--data-dir", "TMP/images", "--overwrite"],
                        corrupt_images("truncated"), "0.png is not a readable image"),
    "damaged pareto.json": (["--run", "TMP/front", "--overwrite"], damaged_front, "pareto.json is damaged"),
    "run folder missing": (["--run", "TMP/nowhere", "--overwrite"], None, "holds no monas run"),
}


def argv_for(extra, tmp_path, out):
    argv = [*BASE, "--out", str(out)]
    if "--genotype" in extra or "--run" in extra:
        argv.remove("--genotype")
        argv.remove(GENOTYPE)
    if "--out" in extra:
        argv = argv[:-2]
    return argv + [a.replace("OUT", str(out)).replace("TMP", str(tmp_path)) for a in extra]


@pytest.mark.parametrize("extra, setup, message", CASES.values(), ids=CASES.keys())
def test_bad_input_is_one_line_exit_2_and_the_earlier_run_unchanged(earlier, tmp_path, capsys, extra, setup, message):
    out = copy_run(earlier, tmp_path / "run")
    if setup is not None:
        setup(out)
    before = fingerprint(tmp_path)
    code = main(argv_for(extra, tmp_path, out))
    assert_refused(code, capsys.readouterr().err, "train_cifar", message)
    assert fingerprint(tmp_path) == before


def test_a_crafted_checkpoint_runs_no_code(earlier, tmp_path, capsys):
    out = copy_run(earlier, tmp_path / "run")
    unfinished(out)
    marker = tmp_path / "marker"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    state = torch.load(out / "checkpoint.pt", weights_only=False)
    state["progress"]["history"] = Payload()
    torch.save(state, out / "checkpoint.pt")
    before = fingerprint(out)
    assert_refused(main([*BASE, "--out", str(out), "--resume"]), capsys.readouterr().err, "train_cifar",
                   "holds objects other than tensors and plain data")
    assert not marker.exists()
    assert fingerprint(out) == before


def test_a_symlinked_metrics_file_is_not_written_through(earlier, tmp_path, capsys):
    out = copy_run(earlier, tmp_path / "run")
    unfinished(out)
    outside = tmp_path / "outside.csv"
    outside.write_text("mine\n")
    (out / "metrics.csv").unlink()
    (out / "metrics.csv").symlink_to(outside)
    assert main([*BASE, "--out", str(out), "--resume"]) == 2
    assert "symbolic link" in capsys.readouterr().err
    assert outside.read_text() == "mine\n"


def test_resuming_a_finished_run_changes_nothing(earlier, tmp_path, capsys):
    out = copy_run(earlier, tmp_path / "run")
    before = fingerprint(out)
    assert main([*BASE, "--out", str(out), "--resume"]) == 0
    assert "already finished" in capsys.readouterr().out
    assert fingerprint(out) == before


def test_a_failed_start_puts_the_overwritten_run_back(earlier, tmp_path, monkeypatch):
    out = copy_run(earlier, tmp_path / "run")
    before = fingerprint(tmp_path)

    def fail(*args, **kwargs):
        raise RuntimeError("the new run failed before its first checkpoint")

    monkeypatch.setattr("monas.train.loop.train", fail)
    with pytest.raises(RuntimeError):
        main([*BASE, "--out", str(out), "--overwrite", "--lr", "0.05"])
    assert fingerprint(tmp_path) == before
    fresh = tmp_path / "fresh"
    with pytest.raises(RuntimeError):
        main([*BASE, "--out", str(fresh / "deeper")])
    assert not fresh.exists()  # a failed start in a new folder leaves no folder behind


def test_overwrite_replaces_the_run_once_the_new_one_has_started(earlier, tmp_path):
    out = copy_run(earlier, tmp_path / "run")
    assert main([*BASE, "--out", str(out), "--overwrite", "--lr", "0.05"]) == 0
    assert '"lr": 0.05' in (out / "run.json").read_text()
    assert not [p for p in out.iterdir() if p.name.startswith(".replaced-")]


def test_a_start_killed_before_its_first_checkpoint_does_not_block_the_same_command(earlier, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "run.json").write_text((earlier / "run.json").read_text())  # what a kill right after the start leaves
    assert main([*BASE, "--out", str(out)]) == 0
    assert (out / "result.json").exists()


def test_a_second_process_is_refused_naming_the_holder(earlier, tmp_path, capsys):
    out = copy_run(earlier, tmp_path / "run")
    unfinished(out)
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import sys, time
            from monas.io import RunLock
            lock = RunLock({str(out)!r}).acquire()
            print("locked", flush=True)
            time.sleep(60)
        """)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        before = fingerprint(out)
        assert_refused(main([*BASE, "--out", str(out), "--resume"]), capsys.readouterr().err, "train_cifar",
                       f"in use by another monas process (pid {holder.pid})")
        assert fingerprint(out) == before
    finally:
        holder.kill()
        holder.wait()


def test_the_lock_is_held_while_training(earlier, tmp_path, monkeypatch):
    out = tmp_path / "run"
    seen = []

    def train_and_look(*args, **kwargs):
        try:
            RunLock(out).acquire()
        except Exception as exc:  # noqa: BLE001
            seen.append(str(exc))
        raise KeyboardInterrupt

    monkeypatch.setattr("monas.train.loop.train", train_and_look)
    assert main([*BASE, "--out", str(out)]) == 130
    assert seen and f"pid {os.getpid()}" in seen[0]
