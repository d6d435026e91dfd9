"""evaluate with bad input: every case is refused with exit 2 and one stderr line, no
traceback, and nothing changed on disk (an earlier score file copied into the case's
folder, and everything else there, compared entry by entry: content, mtime, links).
Also: lines are appended as architectures finish, and --resume completes a partial file."""
import json
import shutil

import pytest

from monas.cli.evaluate import main
from monas.io import RunLock
from search_spaces.darts.genotypes import DARTS_V2
from tests.monas.cli.bad_input import assert_refused, fingerprint, image_folder
from tests.monas.cli.test_evaluate import DARTS_ARGS, NB201_ARCH, cheap_darts_string

OTHER = DARTS_V2.replace("sep_conv_3x3", "max_pool_3x3")
ARGS = [*DARTS_ARGS, "--genotypes", "{tmp}/g.txt"]
NEW = [*ARGS, "--out", "{tmp}/new.jsonl"]
EARLIER = [*ARGS, "--out", "{tmp}/earlier.jsonl"]


@pytest.fixture(scope="module")
def earlier(tmp_path_factory):
    """Scores of two architectures, made once for the module."""
    folder = tmp_path_factory.mktemp("earlier")
    (folder / "g.txt").write_text(f"{DARTS_V2}\n{cheap_darts_string()}\n")
    out = folder / "earlier.jsonl"
    assert main([*DARTS_ARGS, "--genotypes", str(folder / "g.txt"), "--out", str(out)]) == 0
    return out


def genotypes(*lines):
    def setup(tmp):
        (tmp / "g.txt").write_text("\n".join(lines) + "\n")

    return setup


def genotype(cell_edit):
    return genotypes(cell_edit(DARTS_V2))


def link_out(target_exists):
    def setup(tmp):
        if target_exists:
            (tmp / "outside.jsonl").write_text("keep\n")
        (tmp / "new.jsonl").symlink_to(tmp / "outside.jsonl")

    return setup


def spoil_earlier(text):
    def setup(tmp):
        (tmp / "earlier.jsonl").write_text(text)

    return setup


def images(broken):
    return lambda tmp: image_folder(tmp / "images", per_class=3, size=16, damage=broken)


IMAGES = ["--dataset", "imagefolder", "--data-dir", "{tmp}/images", "--estimator", "rwe", "-E", "n_train=4", "-E", "n_val=2"]
THIRD = genotypes(DARTS_V2, cheap_darts_string(), OTHER)

CASES = [
    # flags
    ("flag", [*NEW, "--space", "nope"], "unknown search space 'nope'", None),
    ("flag", ["--genotypes", "{tmp}/g.txt"], "the following arguments are required: --space", None),
    ("flag", [*NEW, "--estimator", "nope"], "unknown estimator 'nope'", None),
    ("flag", [*NEW, "-E", "seed=3"], "unknown estimator option 'seed'", None),
    ("flag", [*NEW, "-S", "depth=2"], "unknown space option 'depth'", None),
    ("flag", [*NEW, "--seed", "x"], "invalid int value", None),
    ("flag", [*EARLIER, "--resume", "--overwrite"], "--resume and --overwrite exclude each other", None),
    ("flag", [*ARGS, "--resume"], "--resume needs --out", None),
    ("flag", [*ARGS, "--overwrite"], "--overwrite needs --out", None),
    # numbers
    ("number", [*NEW, "-E", "alpha=nan"], "alpha=nan must be a finite number", None),
    ("number", [*NEW, "-E", "alpha=-inf"], "alpha=-inf must be a finite number", None),
    ("number", [*NEW, "-E", "n_train=0"], "n_train=0 must be a finite number of at least 1", None),
    ("number", [*NEW, "-E", "n_inits=0"], "n_inits=0 must be", None),
    ("number", [*NEW, "-E", "batch_size=1000000000"], "above the limit of 100000", None),
    ("number", [*NEW, "-E", "n_train=5000"], "only 1438", None),
    ("number", [*NEW, "--seed", "-1"], "--seed must be between 0", None),
    ("number", [*NEW, "-S", "init_channels=100000"], "init_channels=100000 is above the limit of 1024", None),
    ("number", [*NEW, "-S", "layers=-1"], "layers=-1 must be", None),
    # genotype files and strings
    ("genotypes", [*DARTS_ARGS, "--genotypes", "{tmp}/none.txt"], "cannot read --genotypes", None),
    ("genotypes", [*DARTS_ARGS, "--genotypes", "{tmp}"], "cannot read --genotypes", None),
    ("genotypes", NEW, "is not a UTF-8 text file", lambda tmp: (tmp / "g.txt").write_bytes(b"\xff\xfe\x00G")),
    ("genotypes", NEW, "lists no architectures", genotypes("# nothing", "")),
    ("genotypes", NEW, "line 2: not a Genotype string", genotypes(DARTS_V2, "Genotype(normal=[")),
    ("genotypes", NEW, "has an invalid range(...)",
     genotype(lambda g: g.replace("normal_concat=[2, 3, 4, 5]", "normal_concat=range(0, 10000000000)"))),
    ("genotypes", NEW, "normal_concat is []", genotype(lambda g: g.replace("normal_concat=[2, 3, 4, 5]", "normal_concat=[]"))),
    ("genotypes", NEW, "takes input 9, which does not precede it", genotype(lambda g: g.replace("('sep_conv_3x3', 1)", "('sep_conv_3x3', 9)", 1))),
    ("genotypes", NEW, "takes input -1", genotype(lambda g: g.replace("('sep_conv_3x3', 1)", "('sep_conv_3x3', -1)", 1))),
    ("genotypes", NEW, "operation 'conv_9x9' is not in the darts space", genotype(lambda g: g.replace("sep_conv_3x3", "conv_9x9"))),
    ("genotypes", NEW, "not a Genotype string", genotypes(NB201_ARCH)),
    ("genotypes", NEW, "Genotype fields must be given by name", genotypes("Genotype([], [], [], [])")),
    ("genotypes", NEW, "is not a literal", genotype(lambda g: g.replace("normal_concat=[2, 3, 4, 5]", "normal_concat=__import__('os')"))),
    # --out
    ("out", [*ARGS, "--out", ""], "--out must name a file, got ''", None),
    ("out", [*ARGS, "--out", "{tmp}/g.txt", "--overwrite"], "is the --genotypes file", None),
    ("out", [*ARGS, "--out", "{tmp}"], "is a folder", None),
    ("out", EARLIER, "already holds scores; pass --resume to continue it or --overwrite to replace it", None),
    ("out", [*ARGS, "--out", "{tmp}/earlier.jsonl/x.jsonl"], "earlier.jsonl is a file, not a folder", None),
    ("out", [*ARGS, "--out", "/sys/scores.jsonl"], "cannot lock /sys", None),
    ("out", [*ARGS, "--out", "/proc/monas/scores.jsonl"], "cannot create /proc/monas", None),
    ("out", NEW, "new.jsonl is a symbolic link", link_out(True)),
    ("out", [*NEW, "--overwrite"], "new.jsonl is a symbolic link", link_out(True)),
    ("out", NEW, "new.jsonl is a symbolic link", link_out(False)),
    # devices
    ("device", [*NEW, "--device", "tpu"], "unknown --device 'tpu'", None),
    ("device", [*NEW, "--device", "cuda:9"], "cuda", None),
    ("device", [*NEW, "--latency-device", "cuda:9"], "--latency-device cuda:9", None),
    ("device", [*NEW, "--latency", "--latency-device", "tpu"], "unknown --latency-device 'tpu'", None),
    ("number", [*NEW, "--latency-batch", "0"], "--latency-batch must be at least 1", None),
    # datasets
    ("data", [*NEW, *IMAGES], "c0/0.png is not a readable image", images("corrupt")),
    ("data", [*NEW, *IMAGES], "c0/0.png is not a readable image", images("truncated")),
    ("data", [*NEW, "--dataset", "imagefolder", "--data-dir", "{tmp}/none"], "existing folder", None),
    # --resume of a file that does not fit
    ("resume", [*EARLIER, "--resume"], "was not written for", genotypes(cheap_darts_string(), DARTS_V2)),
    ("resume", [*EARLIER, "--resume"], "line 1 is corrupt", spoil_earlier('{"line": \n{}\n')),
    ("resume", [*EARLIER, "--resume"], "holds more lines than", genotypes(DARTS_V2)),
    ("resume", [*EARLIER, "--resume"], "in use by another monas process",
     lambda tmp: (THIRD(tmp), RunLock(tmp, ".earlier.jsonl.lock").acquire())),
]


@pytest.mark.parametrize("kind, argv, message, setup", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_bad_input_is_refused_and_changes_nothing(kind, argv, message, setup, earlier, tmp_path, capsys):
    shutil.copy2(earlier, tmp_path / "earlier.jsonl")
    shutil.copy2(earlier.parent / "g.txt", tmp_path / "g.txt")
    if setup is not None:
        setup(tmp_path)
    before = fingerprint(tmp_path)
    code = main([a.format(tmp=tmp_path) for a in argv])
    captured = capsys.readouterr()
    assert_refused(code, captured.err, "evaluate", message)
    assert captured.out == "" and fingerprint(tmp_path) == before


def test_cases_cover_every_kind():
    kinds = {c[0] for c in CASES}
    assert len(CASES) >= 40 and kinds == {"flag", "number", "genotypes", "out", "device", "data", "resume"}


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_cuda(tmp_path, capsys):
    genotypes(DARTS_V2)(tmp_path)
    code = main([a.format(tmp=tmp_path) for a in NEW] + ["--device", "cuda"])
    assert_refused(code, capsys.readouterr().err, "evaluate", "no CUDA device is available")
    assert [p.name for p in tmp_path.iterdir()] == ["g.txt"]


def strip_seconds(text):
    return [{k: v for k, v in json.loads(line).items() if k != "seconds"} for line in text.splitlines()]


def test_lines_are_appended_as_they_finish_and_resume_completes_them(earlier, tmp_path, monkeypatch, capsys):
    import monas.search.evaluation

    THIRD(tmp_path)
    out = tmp_path / "scores.jsonl"
    argv = [a.format(tmp=tmp_path) for a in ARGS] + ["--out", str(out)]
    score = monas.search.evaluation.Evaluator.__call__
    calls = []

    def stopped_at_the_second(self, genome, generation):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return score(self, genome, generation)

    monkeypatch.setattr(monas.search.evaluation.Evaluator, "__call__", stopped_at_the_second)
    assert main(argv) == 130
    assert "continue with --resume" in capsys.readouterr().err
    first = out.read_text()
    assert strip_seconds(first) == strip_seconds(earlier.read_text())[:1]  # the first architecture was kept

    monkeypatch.setattr(monas.search.evaluation.Evaluator, "__call__", score)
    assert main([*argv, "--resume"]) == 0
    text = out.read_text()
    assert text.startswith(first) and len(text.splitlines()) == 3
    assert strip_seconds(text)[:2] == strip_seconds(earlier.read_text())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.txt", "scores.jsonl"]

    before = fingerprint(tmp_path)
    assert main([*argv, "--resume"]) == 0  # complete: nothing to do
    assert fingerprint(tmp_path) == before


def test_resume_after_a_torn_last_line(earlier, tmp_path):
    THIRD(tmp_path)
    out = tmp_path / "scores.jsonl"
    lines = earlier.read_text().splitlines(keepends=True)
    out.write_text(lines[0] + lines[1][: len(lines[1]) // 2])  # killed while appending the second line
    assert main([a.format(tmp=tmp_path) for a in ARGS] + ["--out", str(out), "--resume"]) == 0
    rows = strip_seconds(out.read_text())
    assert len(rows) == 3 and rows[:2] == strip_seconds(earlier.read_text())


def test_an_overwrite_that_fails_to_start_restores_the_old_file(earlier, tmp_path, monkeypatch):
    import monas.search.evaluation

    shutil.copy2(earlier, tmp_path / "earlier.jsonl")
    shutil.copy2(earlier.parent / "g.txt", tmp_path / "g.txt")
    before = fingerprint(tmp_path)

    def broken(*args, **kwargs):
        raise RuntimeError("the evaluator broke")

    monkeypatch.setattr(monas.search.evaluation.Evaluator, "__call__", broken)
    with pytest.raises(RuntimeError):
        main([a.format(tmp=tmp_path) for a in EARLIER] + ["--overwrite"])
    assert fingerprint(tmp_path) == before
