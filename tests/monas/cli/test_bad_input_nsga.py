"""run_nsga with bad input: every case is refused with exit 2 and one stderr line, no
traceback, and nothing changed on disk (an earlier finished run copied into the case's
folder, and everything else there, compared entry by entry: content, mtime, links)."""
import json
import os
import pickle
import subprocess
import sys

import pytest

from monas.cli.nsga import main
from monas.io import LOCK_FILE
from tests.conftest import SMALL_RUN_ARGS
from tests.monas.cli.bad_input import assert_refused, copy_run, fingerprint, image_folder

FRESH = [*SMALL_RUN_ARGS, "--out", "{tmp}/new"]
RESUME = ["--resume", "{run}", "--no-progress"]


class Marker:
    """Unpickling this creates the file ``path``: the crafted checkpoint of the security test."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def edit_json(name, change):
    def setup(tmp, run):
        data = json.loads((run / name).read_text())
        change(data)
        (run / name).write_text(json.dumps(data))

    return setup


def write(name, text):
    def setup(tmp, run):
        (run / name).write_text(text)

    return setup


def config_field(key, value):
    return edit_json("config.json", lambda d: d["config"].__setitem__(key, value))


def population(key, value):
    return edit_json("checkpoint.json", lambda d: d["population"].__setitem__(key, value))


def pickled_checkpoint(tmp, run):
    (run / "checkpoint.pkl").write_bytes(pickle.dumps(Marker(str(tmp / "marker"))))


def outside_archive_link(tmp, run):
    (tmp / "elsewhere.jsonl").write_text("{}\n")
    (run / "archive.jsonl").unlink()
    (run / "archive.jsonl").symlink_to(tmp / "elsewhere.jsonl")


def dangling_archive_link(tmp, run):
    (tmp / "new").mkdir()
    (tmp / "new" / "archive.jsonl").symlink_to(tmp / "elsewhere" / "created.jsonl")


def linked_run_folder(tmp, run):
    (tmp / "link").symlink_to(run)


def images(broken):
    return lambda tmp, run: image_folder(tmp / "images", per_class=3, size=16, damage=broken)


def wrong_genome(tmp, run):
    lines = (run / "archive.jsonl").read_text().splitlines()
    first = json.loads(lines[0])
    first["genome"] = json.loads(lines[1])["genome"]
    (run / "archive.jsonl").write_text("\n".join([json.dumps(first), *lines[1:]]) + "\n")


IMAGES = ["--dataset", "imagefolder", "--data-dir", "{tmp}/images", "--estimator", "rwe", "-E", "n_train=4", "-E", "n_val=2"]

CASES = [
    # flags
    ("flag", [*FRESH, "--space", "nope"], "unknown search space 'nope'", None),
    ("flag", [*FRESH, "--pop-size", "ten"], "invalid int value", None),
    ("flag", [*FRESH, "--objectives", "error,flops"], "unknown objectives", None),
    ("flag", [*FRESH, "--estimator", "nope"], "unknown estimator 'nope'", None),
    ("flag", [*FRESH, "--algorithm", "nope"], "unknown algorithm 'nope' (known: age-moea2, nsga2, nsga3, random, sms-emoa)", None),
    ("flag", [*RESUME, "--algorithm", "random"], "drop --algorithm", None),
    ("flag", [*FRESH, "--early-stop", "curve"], "--early-stop needs --estimator train", None),
    ("flag", [*FRESH, "-E", "head=svm"], "unknown head 'svm'", None),
    ("flag", [*RESUME, "--overwrite"], "--resume and --overwrite exclude each other", None),
    ("flag", [*RESUME, "--seed", "4"], "drop --seed", None),
    ("flag", [*RESUME, "--max-macs", "600M"], "drop --max-macs", None),
    ("flag", [*RESUME, "--crossover", "0.5"], "drop --crossover", None),
    ("flag", [*FRESH, "--algorithm", "random", "--crossover", "0.5"], "--crossover: the random algorithm breeds no children", None),
    ("flag", [*FRESH, "--objectives", "latency,error"], "give error followed by", None),
    ("flag", [*FRESH, "--latency-device", "cpu"], "--latency-device needs latency measured", None),
    ("flag", [*FRESH, "--latency-batch", "4"], "--latency-batch needs latency measured", None),
    # numbers
    ("number", [*FRESH, "-E", "alpha=nan"], "alpha=nan must be a finite number", None),
    ("number", [*FRESH, "--max-macs", "-1"], "--max-macs must be a positive number such as 600M", None),
    ("number", [*FRESH, "--max-macs=-5M"], "--max-macs must be a positive number", None),
    ("number", [*FRESH, "--max-params", "0"], "--max-params must be a positive number", None),
    ("number", [*FRESH, "--max-params", "3.5X"], "got '3.5X'", None),
    ("number", [*FRESH, "--max-latency", "fast"], "--max-latency must be a positive number of milliseconds", None),
    ("number", [*FRESH, "--max-latency", "inf"], "--max-latency must be a positive number", None),
    ("number", [*FRESH, "--objectives", "error,latency", "--latency-batch", "0"], "--latency-batch must be at least 1", None),
    ("number", [*FRESH, "--max-latency", "5", "--latency-batch", "100000"], "--latency-batch 100000 is above the limit", None),
    ("number", [*FRESH, "-E", "alpha=inf"], "alpha=inf must be a finite number", None),
    ("number", [*FRESH, "-E", "alpha=-1"], "alpha=-1.0 must be a finite number of at least 0", None),
    ("number", [*FRESH, "-E", "n_train=0"], "n_train=0 must be a finite number of at least 1", None),
    ("number", [*FRESH, "-E", "n_val=-5"], "n_val=-5 must be", None),
    ("number", [*FRESH, "-E", "batch_size=1e3"], "is not a valid int", None),
    ("number", [*FRESH, "-E", "n_train=5000"], "only 1438", None),
    ("number", [*FRESH, "--seed", "-1"], "--seed must be between 0 and 4294967295, got -1", None),
    ("number", [*FRESH, "--seed", "4294967296"], "--seed must be between 0", None),
    ("number", [*FRESH, "--pop-size", "1000000000"], "--pop-size 1000000000 is above the limit of 10000", None),
    ("number", [*FRESH, "--pop-size", "1"], "--pop-size must be at least 2", None),
    ("number", [*FRESH, "--crossover", "1.5"], "--crossover must be a probability from 0 to 1, got 1.5", None),
    ("number", [*FRESH, "--crossover", "nan"], "--crossover must be a probability from 0 to 1, got nan", None),
    ("number", [*FRESH, "--crossover", "high"], "--crossover: invalid float value: 'high'", None),
    ("number", [*FRESH, "--generations", "0"], "--generations must be at least 1", None),
    ("number", [*FRESH, "--generations", "10000000"], "above the limit", None),
    ("number", [*FRESH, "--workers", "0"], "--workers must be at least 1", None),
    ("number", [*FRESH, "--workers", "100000"], "--workers 100000 is above the limit of 256", None),
    ("number", [*FRESH, "-S", "init_channels=100000"], "init_channels=100000 is above the limit of 1024", None),
    ("number", [*FRESH, "-S", "layers=100000"], "layers=100000 is above the limit", None),
    ("number", [*FRESH, "-S", "init_channels=0"], "init_channels=0 must be", None),
    ("number", ["--dataset", "digits", "--out", "{tmp}/new", "--space", "mobilenetv3", "-S", "width=nan"], "width=nan must be a finite number", None),
    ("number", ["--dataset", "digits", "--out", "{tmp}/new", "--space", "nb201", "-S", "channels=-3"], "channels=-3 must be", None),
    # folders
    ("folder", [*SMALL_RUN_ARGS, "--out", ""], "--out must name a folder, got ''", None),
    ("folder", [*SMALL_RUN_ARGS, "--out", "{run}"], "already holds a run", None),
    ("folder", [*SMALL_RUN_ARGS, "--out", "{run}/config.json"], "is a file, not a folder", None),
    ("folder", [*SMALL_RUN_ARGS, "--out", "{run}/config.json/sub"], "config.json/sub lies under", None),
    ("folder", [*SMALL_RUN_ARGS, "--out", "/sys/monas-run"], "cannot create /sys/monas-run", None),
    ("folder", [*SMALL_RUN_ARGS, "--out", "/proc/monas/run"], "cannot create /proc/monas/run", None),
    ("folder", ["--resume", "{tmp}/nothing"], "holds no monas run", None),
    ("folder", ["--resume", "{run}/config.json"], "holds no monas run", None),
    # devices
    ("device", [*FRESH, "--device", "tpu"], "unknown --device 'tpu'", None),
    ("device", [*FRESH, "--device", "meta"], "unknown --device 'meta'", None),
    ("device", [*RESUME, "--device", "cuda:7", "--generations", "3"], "cuda", None),
    ("device", [*FRESH, "--objectives", "error,latency", "--latency-device", "cuda:7"], "--latency-device cuda:7", None),
    ("device", [*FRESH, "--max-latency", "5", "--latency-device", "tpu"], "unknown --latency-device 'tpu'", None),
    # cluster addresses
    ("cluster", [*FRESH, "--scheduler", "tcp://127.0.0.1:1"], "no Dask scheduler answers at tcp://127.0.0.1:1", None),
    ("cluster", [*FRESH, "--scheduler", "http://127.0.0.1:8786"], "is not a Dask scheduler address", None),
    ("cluster", [*FRESH, "--scheduler", "tcp://127.0.0.1:port"], "is not a Dask scheduler address", None),
    ("cluster", [*RESUME, "--scheduler", "127.0.0.1:1", "--generations", "3"], "no Dask scheduler answers", None),
    ("cluster", [*FRESH, "--cluster", "slurm", "--cluster-config", "{tmp}/missing.yaml"], "cannot read --cluster-config", None),
    ("cluster", [*FRESH, "--cluster-config", "x.yaml"], "--cluster-config needs --cluster slurm", None),
    # datasets
    ("data", [*FRESH, *IMAGES], "c0/0.png is not a readable image", images("corrupt")),
    ("data", [*FRESH, *IMAGES], "c0/0.png is not a readable image", images("truncated")),
    ("data", [*FRESH, "--dataset", "imagefolder", "--data-dir", "{tmp}/none"], "existing folder", None),
    ("data", [*FRESH, "--dataset", "imagefolder", "--data-dir", "{run}"], "is not an ImageFolder tree", None),
    # tampered run files
    ("run file", RESUME, "config.json is unreadable", write("config.json", "{not json")),
    ("run file", RESUME, "pop_size is 'abc'", config_field("pop_size", "abc")),
    ("run file", RESUME, "init_channels=100000 is above the limit", config_field("space_options", {"init_channels": 100000})),
    ("run file", RESUME, "--seed must be between 0", config_field("seed", -1)),
    ("run file", RESUME, "--max-macs must be a positive number", config_field("bounds", {"macs": -1})),
    ("run file", RESUME, "unknown bound 'flops'", config_field("bounds", {"flops": 5})),
    ("run file", RESUME, "bounds is", config_field("bounds", [600])),
    ("run file", RESUME, "was not written by this version of monas", edit_json("config.json", lambda d: d.pop("config"))),
    ("run file", RESUME, "checkpoint.json is not a readable checkpoint", write("checkpoint.json", "\x00garbage")),
    ("run file", RESUME, "population genomes have the wrong shape", population("X", [[0, 1]])),
    ("run file", RESUME, "population rank holds something other than numbers", population("rank", ["0"] * 6)),
    ("run file", RESUME, "outside the space's bounds", population("X", [[99] * 32] * 6)),
    ("run file", RESUME, "bad random generator state",
     edit_json("checkpoint.json", lambda d: d.__setitem__("rng", {"bit_generator": "MT19937"}))),
    ("run file", RESUME, "n_gen does not match", edit_json("checkpoint.json", lambda d: d.__setitem__("n_gen", 7))),
    ("run file", RESUME, "not a monas-search-state-1", edit_json("checkpoint.json", lambda d: d.__setitem__("format", "x"))),
    ("run file", RESUME, "written by an older monas (checkpoint.pkl) and cannot be resumed safely", pickled_checkpoint),
    ("run file", RESUME, "pareto.json is unreadable", write("pareto.json", "[")),
    ("run file", RESUME, "pareto.json is not a monas front", write("pareto.json", "[]")),
    ("run file", RESUME, "archive.jsonl line 1 is corrupt", write("archive.jsonl", "{]\n{}\n")),
    ("run file", RESUME, "not a network of this run's space with that genome", wrong_genome),
    ("run file", [*RESUME, "--generations", "1"], "--generations 1 is fewer than the 2 generations", None),
    # links
    ("link", [*RESUME, "--generations", "3"], "archive.jsonl is a symbolic link", outside_archive_link),
    ("link", RESUME, "archive.jsonl is a symbolic link", outside_archive_link),
    ("link", FRESH, "archive.jsonl is a symbolic link", dangling_archive_link),
    ("link", ["--resume", "{tmp}/link", "--generations", "3"], "link is a symbolic link; give the real folder", linked_run_folder),
]


@pytest.mark.parametrize("kind, argv, message, setup", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_bad_input_is_refused_and_changes_nothing(kind, argv, message, setup, small_run, tmp_path, capsys):
    if "cuda" in argv and __import__("torch").cuda.device_count() > 7:
        pytest.skip("this machine has a cuda:7")
    run = copy_run(small_run, tmp_path / "run")
    if setup is not None:
        setup(tmp_path, run)
    before = fingerprint(tmp_path)
    code = main([a.format(tmp=tmp_path, run=run) for a in argv])
    assert_refused(code, capsys.readouterr().err, "run_nsga", message)
    assert fingerprint(tmp_path) == before
    assert not (tmp_path / "marker").exists() and not (tmp_path / "elsewhere").exists()


def test_cases_cover_every_kind():
    kinds = {c[0] for c in CASES}
    assert len(CASES) >= 40 and kinds == {"flag", "number", "folder", "device", "cluster", "data", "run file", "link"}


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="this machine has CUDA")
@pytest.mark.parametrize("flags", [["--device", "cuda"], ["--objectives", "error,latency", "--latency-device", "cuda"]])
def test_cuda_without_cuda(small_run, tmp_path, capsys, flags):
    before = fingerprint(small_run)
    assert main([*SMALL_RUN_ARGS, "--out", str(tmp_path / "new"), *flags]) == 2
    assert_refused(2, capsys.readouterr().err, "run_nsga", f"{flags[-2]} cuda asked for, but no CUDA device is available")
    assert fingerprint(small_run) == before and list(tmp_path.iterdir()) == []


def test_a_run_locked_by_another_process_is_refused_with_its_pid(small_run, tmp_path, capsys):
    run = copy_run(small_run, tmp_path / "run")
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from monas.io import RunLock; RunLock(sys.argv[1]).acquire(); "
         "print('locked', flush=True); time.sleep(60)", str(run)],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline() == "locked\n"
        (run / ".archive.jsonl.12.tmp").write_text("another process's write in flight")
        before = fingerprint(tmp_path)
        code = main(["--resume", str(run), "--generations", "3", "--no-progress"])
        assert_refused(code, capsys.readouterr().err, "run_nsga", f"in use by another monas process (pid {holder.pid})")
        assert fingerprint(tmp_path) == before  # its temporary file is still there
    finally:
        holder.kill()
        holder.wait()


def test_an_overwrite_that_fails_to_start_restores_the_old_run(small_run, tmp_path, monkeypatch):
    import monas.search.driver

    run = copy_run(small_run, tmp_path / "run")
    before = {k: v for k, v in fingerprint(tmp_path).items() if k != f"run/{LOCK_FILE}"}

    def broken(*args, **kwargs):
        raise RuntimeError("the evaluator broke")

    monkeypatch.setattr(monas.search.driver.Evaluator, "__call__", broken)
    with pytest.raises(RuntimeError):
        main([*SMALL_RUN_ARGS, "--out", str(run), "--overwrite"])
    assert {k: v for k, v in fingerprint(tmp_path).items() if k != f"run/{LOCK_FILE}"} == before


def test_a_fresh_run_that_fails_to_start_leaves_nothing(tmp_path, monkeypatch):
    import monas.search.driver

    def broken(*args, **kwargs):
        raise RuntimeError("the evaluator broke")

    monkeypatch.setattr(monas.search.driver.Evaluator, "__call__", broken)
    with pytest.raises(RuntimeError):
        main([*SMALL_RUN_ARGS, "--out", str(tmp_path / "a" / "b")])
    assert list(tmp_path.iterdir()) == []


def test_resume_of_a_finished_search_changes_nothing(small_run, tmp_path, capsys):
    run = copy_run(small_run, tmp_path / "run")
    before = fingerprint(tmp_path)
    assert main(["--resume", str(run), "--no-progress"]) == 0
    assert "has finished its 2 generations; nothing to do" in capsys.readouterr().out
    assert fingerprint(tmp_path) == before


def test_a_crafted_pickle_is_never_loaded(small_run, tmp_path, capsys):
    run = copy_run(small_run, tmp_path / "run")
    (run / "checkpoint.json").unlink()
    pickled_checkpoint(tmp_path, run)
    pickle.loads(pickle.dumps(Marker(str(tmp_path / "probe"))))  # the payload does work when unpickled
    assert (tmp_path / "probe").exists()
    code = main(["--resume", str(run), "--generations", "3", "--no-progress"])
    assert_refused(code, capsys.readouterr().err, "run_nsga", "older monas")
    assert not (tmp_path / "marker").exists()


def test_overwrite_replaces_the_old_run_once_the_new_one_has_started(small_run, tmp_path):
    run = copy_run(small_run, tmp_path / "run")
    (run / "checkpoint.json").rename(run / "checkpoint.pkl")  # an old-format run is replaced too
    args = [a if a != "2" else "1" for a in SMALL_RUN_ARGS]
    assert main([*args, "--out", str(run), "--overwrite"]) == 0
    assert json.loads((run / "config.json").read_text())["config"]["generations"] == 1
    assert sorted(p.name for p in run.iterdir() if p.name.startswith(".") or p.suffix == ".pkl") == [LOCK_FILE]
    assert os.path.exists(run / "checkpoint.json")
