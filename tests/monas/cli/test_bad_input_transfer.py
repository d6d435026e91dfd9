"""transfer_imagenet refuses bad input with one line and exit 2, leaving an earlier run
as it was byte for byte; a corrupt image is one line naming the file, or skipped and
counted with --skip-bad-images; one process per run folder."""
import pytest

from monas.io import RunLock
from monas.cli.transfer import main
from tests.monas.cli.bad_input import BAD_GENOTYPES, GENOTYPE, assert_refused, copy_run, fingerprint, image_folder, link
from tests.monas.cli.test_bad_input_train import (
    garbage_checkpoint,
    older_checkpoint,
    run_json,
    search_folder,
    second_folder_is_a_file,
    tuning_folder,
    unfinished,
)

SMALL = ["--image-size", "32", "--init-channels", "8", "--layers", "3", "--batch-size", "4", "--loader-workers", "0",
         "--eval-batch-size", "16", "--epochs", "1", "--max-steps", "2", "--device", "cpu"]


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """A tiny ImageNet-layout folder: 2 classes, 8 images each in train/ and val/."""
    return image_folder(tmp_path_factory.mktemp("imagenet") / "images", ("train", "val"))


@pytest.fixture(scope="module")
def earlier(images, tmp_path_factory):
    """A small finished transfer run."""
    out = tmp_path_factory.mktemp("transfer") / "earlier"
    assert main(base(images, out)) == 0
    return out


def base(images, out, genotype=True):
    return ["--data-dir", str(images), *SMALL, *(["--genotype", GENOTYPE] if genotype else []), "--out", str(out)]


def damaged_images(damage):
    def make(run):
        image_folder(run.parent / "damaged", ("train", "val"), damage=damage)
    return make


def other_classes(run):
    folder = run.parent / "mismatch"
    image_folder(folder, ("train", "val"), per_class=2)
    (folder / "val" / "c1").rename(folder / "val" / "c9")


def no_val(run):
    image_folder(run.parent / "noval", ("train",), per_class=2)


def empty_split(run):
    (run.parent / "empty" / "train" / "c0").mkdir(parents=True)
    (run.parent / "empty" / "val" / "c0").mkdir(parents=True)


GOOD_TWO = ["--genotype", GENOTYPE, "--genotype", GENOTYPE]
CASES = {
    # numbers
    "momentum nan": (["--momentum", "nan"], None, "momentum must be a finite number"),
    "eval-every inf": (["--eval-every", "inf"], None, "eval_every must be a finite number"),
    "time-budget 1e300": (["--time-budget", "1e300"], None, "time_budget must be at most"),
    "seed -1": (["--seed", "-1"], None, "seed must not be negative"),
    "batch-size 1": (["--batch-size", "1"], None, "batch_size must be at least 2"),
    "batch-size above the images": (["--batch-size", "64"], None, "larger than the 16 training images"),
    "epochs 0": (["--epochs", "0"], None, "epochs must be positive"),
    "epochs absurd": (["--epochs", str(10**9)], None, "epochs must be at most"),
    "lr nan": (["--lr", "nan"], None, "lr must be a finite number"),
    "lr negative": (["--lr=-1"], None, "lr must be positive"),
    "weight-decay inf": (["--weight-decay", "inf"], None, "weight_decay must be a finite number"),
    "label-smoothing 1": (["--label-smoothing", "1"], None, "must be below 1"),
    "randaugment 99": (["--randaugment", "99"], None, "randaugment must be at most 30"),
    "loader-workers absurd": (["--loader-workers", "100000"], None, "loader_workers must be at most"),
    "max-steps 0": (["--max-steps", "0"], None, "max_steps must be positive"),
    "warmup inf": (["--warmup-epochs", "inf"], None, "warmup_epochs must be a finite number"),
    "cutmix nan": (["--cutmix", "nan"], None, "cutmix must be a finite number"),
    "image-size 40": (["--image-size", "40"], None, "multiple of 32"),
    "image-size 0": (["--image-size", "0"], None, "multiple of 32"),
    "image-size absurd": (["--image-size", str(32 * 10**6)], None, "multiple of 32"),
    "init-channels 100000": (["--init-channels", "100000"], None, "parameters (more than"),
    "init-channels odd": (["--init-channels", "3"], None, "even number"),
    "layers 2": (["--layers", "2"], None, "--layers between 3"),
    "train-limit 0": (["--train-limit", "0"], None, "--train-limit must be between 1"),
    "val-limit huge": (["--val-limit", "999"], None, "--val-limit must be between 1"),
    # genotypes
    **{f"genotype {kind}": (["--genotype", text], None, "error:") for kind, text in BAD_GENOTYPES.items()},
    # cluster
    "submit local on 2 nodes": (["--submit", "local", "--nodes", "2"], None, "--nodes must be 1"),
    "submit slurm without SLURM": (["--submit", "slurm"], None, "sbatch is not on PATH"),
    "slurm option not KEY=VALUE": (["--submit", "slurm", "--slurm-option", "account"], None, "is not KEY=VALUE"),
    "slurm option without slurm": (["--slurm-option", "account=x"], None, "apply only with --submit slurm"),
    "nodes 0": (["--nodes", "0"], None, "--nodes must be between 1"),
    "time 0": (["--time", "0"], None, "--time must be between 1"),
    "gpus negative": (["--gpus-per-node=-1"], None, "--gpus-per-node must be between 0"),
    "cpus 0": (["--cpus-per-task", "0"], None, "--cpus-per-task must be between 1"),
    "submit unknown": (["--submit", "kubernetes"], None, "invalid choice"),
    # devices
    "device cuda without CUDA": (["--device", "cuda"], None, "no CUDA device"),
    "device unknown": (["--device", "tpu9"], None, "unknown --device"),
    # folders
    "out empty": (["--out", ""], None, "--out must name a folder"),
    "out is a file": (["--out", "OUT/result.json"], None, "is a file, not a folder"),
    "out under a file": (["--out", "OUT/result.json/sub"], None, "is a file, not a folder"),
    "second genotype folder is a file": (GOOD_TWO, second_folder_is_a_file, "is a file, not a folder"),
    "out is a search folder": ([], search_folder, "another kind of monas run (archive.jsonl)"),
    "out is a tuning folder": ([], tuning_folder, "another kind of monas run (trials.jsonl)"),
    "existing run": ([], None, "already holds a training run"),
    "resume and overwrite": (["--resume"], None, "exclude each other"),
    "symlinked metrics": ([], link("metrics.csv"), "symbolic link"),
    "dangling symlinked checkpoint": ([], link("checkpoint.pt", dangling=True), "symbolic link"),
    # resuming
    "resume other lr": (["--resume", "--lr", "0.5"], None, "lr=0.1, not 0.5"),
    "resume finished with more epochs": (["--resume", "--epochs", "3"], None, "a finished run is not extended"),
    "tampered run.json": (["--resume"], run_json("{not json"), "run.json is unreadable"),
    "older checkpoint format": (["--resume"], lambda run: (unfinished(run), older_checkpoint(run)),
                                "older monas format"),
    "garbage checkpoint": (["--resume"], lambda run: (unfinished(run), garbage_checkpoint(run)),
                           "not a readable checkpoint"),
    # data
    "data-dir missing": (["--data-dir", "TMP/nowhere"], None, "has no train/ folder"),
    "data-dir without val": (["--data-dir", "TMP/noval"], no_val, "has no val/ folder"),
    "classes differ": (["--data-dir", "TMP/mismatch", "--batch-size", "2"], other_classes, "different class folders"),
    "no images": (["--data-dir", "TMP/empty"], empty_split, "is not a readable ImageFolder tree"),
    "corrupt image": (["--data-dir", "TMP/damaged", "--batch-size", "16"], damaged_images("corrupt"),
                      "0.png is not a readable image"),
    "truncated image": (["--data-dir", "TMP/damaged", "--batch-size", "16"], damaged_images("truncated"),
                        "0.png is not a readable image"),
}


def argv_for(images, extra, tmp_path, out):
    argv = base(images, out, genotype="--genotype" not in extra)
    if "--out" in extra:
        argv = argv[:-2]
    if "--resume" not in extra:
        argv.append("--overwrite")  # every refusal must come before the earlier run is replaced
    return argv + [a.replace("OUT", str(out)).replace("TMP", str(tmp_path)) for a in extra]


@pytest.mark.parametrize("extra, setup, message", CASES.values(), ids=CASES.keys())
def test_bad_input_is_one_line_exit_2_and_the_earlier_run_unchanged(images, earlier, tmp_path, capsys, extra, setup,
                                                                    message):
    out = copy_run(earlier, tmp_path / "run")
    if setup is not None:
        setup(out)
    before = fingerprint(tmp_path)
    argv = argv_for(images, extra, tmp_path, out)
    if message == "already holds a training run":
        argv.remove("--overwrite")
    if message == "exclude each other":
        argv.append("--overwrite")
    assert_refused(main(argv), capsys.readouterr().err, "transfer_imagenet", message)
    assert fingerprint(tmp_path) == before


def test_data_dir_is_required(capsys, tmp_path):
    assert_refused(main([*SMALL, "--genotype", GENOTYPE, "--out", str(tmp_path / "out")]), capsys.readouterr().err,
                   "transfer_imagenet", "--data-dir is required")
    assert not (tmp_path / "out").exists()


def test_a_corrupt_image_read_by_a_loader_worker_is_one_line(tmp_path, capsys):
    damaged = image_folder(tmp_path / "damaged", ("train", "val"), damage="corrupt")
    out = tmp_path / "out"
    argv = [*base(damaged, out), "--batch-size", "16", "--loader-workers", "1"]
    assert_refused(main(argv), capsys.readouterr().err, "transfer_imagenet", f"{damaged}/train/c0/0.png is not a readable image")
    assert not out.exists()  # the start failed before its first checkpoint: nothing left


def test_skip_bad_images_leaves_them_out_and_counts_them(tmp_path, capsys):
    damaged = image_folder(tmp_path / "damaged", ("train", "val"), damage="truncated")
    out = tmp_path / "out"
    assert main([*base(damaged, out), "--skip-bad-images"]) == 0
    printed = capsys.readouterr().out
    assert "skipped 1 unreadable image(s)" in printed and "0.png" in printed
    assert (out / "result.json").exists()


def test_resuming_a_finished_run_changes_nothing(images, earlier, tmp_path, capsys):
    out = copy_run(earlier, tmp_path / "run")
    before = fingerprint(out)
    assert main([*base(images, out), "--resume"]) == 0
    assert "already finished" in capsys.readouterr().out
    assert fingerprint(out) == before


def test_a_locked_folder_is_refused_naming_the_holder(images, earlier, tmp_path, capsys):
    out = copy_run(earlier, tmp_path / "run")
    unfinished(out)
    lock = RunLock(out).acquire()  # another open file description: flock refuses a second one
    try:
        before = fingerprint(out)
        assert_refused(main([*base(images, out), "--resume"]), capsys.readouterr().err, "transfer_imagenet",
                       "in use by another monas process (pid")
        assert fingerprint(out) == before
    finally:
        lock.release()


def test_a_failed_start_puts_the_overwritten_run_back(images, earlier, tmp_path, monkeypatch):
    out = copy_run(earlier, tmp_path / "run")
    before = fingerprint(tmp_path)

    def fail(*args, **kwargs):
        raise RuntimeError("the job could not be submitted")

    monkeypatch.setattr("monas.cli.transfer_job.submit", fail)
    monkeypatch.setattr("monas.cli.transfer.shutil.which", lambda name: "/usr/bin/sbatch")
    with pytest.raises(RuntimeError):
        main([*base(images, out), "--overwrite", "--submit", "slurm"])
    assert fingerprint(tmp_path) == before
