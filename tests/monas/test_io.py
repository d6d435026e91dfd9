import json
import os
import subprocess
import sys

import pytest

from monas.io import RunDirError, RunLock, SetAside, append_line, atomic_write, read_lines, refuse_links


def test_append_line_refuses_a_symlink_and_writes_nothing_through_it(tmp_path):
    outside = tmp_path / "outside.jsonl"
    outside.write_text("")
    run = tmp_path / "run"
    run.mkdir()
    (run / "archive.jsonl").symlink_to(outside)
    with pytest.raises(RunDirError, match="symbolic link"):
        append_line(run / "archive.jsonl", {"a": 1})
    assert outside.read_text() == ""


def test_append_line_refuses_a_dangling_symlink(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "archive.jsonl").symlink_to(tmp_path / "elsewhere.jsonl")
    with pytest.raises(RunDirError, match="symbolic link"):
        append_line(run / "archive.jsonl", {"a": 1})
    assert not (tmp_path / "elsewhere.jsonl").exists()


def test_atomic_write_replaces_a_link_instead_of_writing_through_it(tmp_path):
    outside = tmp_path / "outside.json"
    outside.write_text("keep")
    (tmp_path / "config.json").symlink_to(outside)
    atomic_write(tmp_path / "config.json", "new")
    assert outside.read_text() == "keep"
    assert not (tmp_path / "config.json").is_symlink()
    assert (tmp_path / "config.json").read_text() == "new"


def test_lines_round_trip_and_a_torn_last_line_is_dropped(tmp_path):
    path = tmp_path / "log.jsonl"
    for i in range(3):
        append_line(path, {"i": i})
    with open(path, "a") as f:
        f.write('{"i": 3')
    assert read_lines(path) == [{"i": 0}, {"i": 1}, {"i": 2}]
    path.write_text('{"i": 0}\nnot json\n{"i": 2}\n')
    with pytest.raises(RunDirError, match="line 2 is corrupt"):
        read_lines(path)


def test_refuse_links_names_the_link(tmp_path):
    (tmp_path / "plain.json").write_text("{}")
    refuse_links(tmp_path)
    (tmp_path / "pareto.json").symlink_to(tmp_path / "plain.json")
    with pytest.raises(RunDirError, match="pareto.json is a symbolic link"):
        refuse_links(tmp_path)
    refuse_links(tmp_path, ["plain.json"])


def test_a_second_process_cannot_take_the_lock_and_learns_the_holders_pid(tmp_path):
    code = (
        "import sys; from monas.io import RunLock, RunDirError\n"
        "try:\n    RunLock(sys.argv[1]).acquire()\nexcept RunDirError as e:\n    print(e); sys.exit(3)\n"
    )
    with RunLock(tmp_path):
        taken = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True)
        assert taken.returncode == 3
        assert f"pid {os.getpid()}" in taken.stdout
    free = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True)
    assert free.returncode == 0, free.stdout + free.stderr


def test_set_aside_restores_or_discards_the_old_run(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"old": True}))
    (tmp_path / "archive.jsonl").write_text("{}\n")
    aside = SetAside(tmp_path, ["config.json", "archive.jsonl"])
    assert not (tmp_path / "config.json").exists()
    (tmp_path / "config.json").write_text("new, failed run")
    aside.restore()
    assert json.loads((tmp_path / "config.json").read_text()) == {"old": True}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["archive.jsonl", "config.json"]

    aside = SetAside(tmp_path, ["config.json"])
    aside.discard()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["archive.jsonl"]


def test_run_claim_undoes_a_start_that_fails_and_keeps_one_that_started(tmp_path):
    from monas.io import RunClaim

    run = tmp_path / "run"
    run.mkdir()
    (run / "result.json").write_text("old\n")
    with pytest.raises(RuntimeError):
        with RunClaim(run, fresh=True, files=["result.json", "new.json"], replace=["result.json"]):
            (run / "new.json").write_text("new\n")
            raise RuntimeError("failed before starting")
    assert sorted(p.name for p in run.iterdir()) == ["result.json"] and (run / "result.json").read_text() == "old\n"
    with pytest.raises(RuntimeError):
        with RunClaim(run, fresh=True, files=["result.json"], replace=["result.json"]) as start:
            (run / "result.json").write_text("new\n")
            start.start()
            raise RuntimeError("failed after starting: the new run stays")
    assert (run / "result.json").read_text() == "new\n"
    assert not [p for p in run.iterdir() if p.name.startswith(".replaced-")]
    fresh = tmp_path / "a" / "b"
    with pytest.raises(RuntimeError):
        with RunClaim(fresh, fresh=True, files=["x"]):
            raise RuntimeError("failed")
    assert not (tmp_path / "a").exists()


def test_run_claim_refused_by_the_lock_touches_nothing_of_the_holder(tmp_path):
    from monas.io import RunClaim

    run = tmp_path / "run"
    run.mkdir()
    (run / "run.json").write_text("the other process's\n")
    holder = RunLock(run).acquire()
    try:
        with pytest.raises(RunDirError, match="in use"):
            with RunClaim(run, fresh=True, files=["run.json"], replace=["run.json"]):
                pass
        assert (run / "run.json").read_text() == "the other process's\n" and (run / ".monas.lock").exists()
    finally:
        holder.release()
def test_repair_torn_tail_cuts_a_torn_last_line_only(tmp_path):
    from monas.io import repair_torn_tail

    log = tmp_path / "log.jsonl"
    repair_torn_tail(log)  # missing: nothing happens
    assert not log.exists()
    log.write_bytes(b'{"a": 1}\n{"b": ')
    repair_torn_tail(log)
    assert log.read_bytes() == b'{"a": 1}\n'
    repair_torn_tail(log)
    assert log.read_bytes() == b'{"a": 1}\n'
    append_line(log, {"c": 2})
    assert read_lines(log) == [{"a": 1}, {"c": 2}]
    (tmp_path / "link.jsonl").symlink_to(log)
    with pytest.raises(RunDirError, match="symbolic link"):
        repair_torn_tail(tmp_path / "link.jsonl")


def test_run_claim_undoes_a_failed_start_and_keeps_a_started_run(tmp_path):
    from monas.io import LOCK_FILE, RunClaim

    old = tmp_path / "run"
    old.mkdir()
    (old / "a.txt").write_text("old")
    claim = RunClaim(old, fresh=True, files=("a.txt",))
    claim.set_aside(["a.txt"])
    (old / "a.txt").write_text("new")
    claim.close(failed=True)
    assert sorted(p.name for p in old.iterdir()) == ["a.txt"] and (old / "a.txt").read_text() == "old"

    claim = RunClaim(tmp_path / "x" / "y", fresh=True, files=("a.txt",))
    with pytest.raises(RunDirError, match="in use by another monas process"):
        RunClaim(tmp_path / "x" / "y", fresh=True, files=("a.txt",))
    (tmp_path / "x" / "y" / "a.txt").write_text("new")
    claim.close(failed=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]  # the folders it created are gone

    claim = RunClaim(old, fresh=True, files=("a.txt",))
    claim.set_aside(["a.txt"])
    append_line(old / "a.txt", {"new": 1})
    claim.start()
    claim.close(failed=True)  # after start, a failure keeps the new run
    assert sorted(p.name for p in old.iterdir()) == [LOCK_FILE, "a.txt"] and read_lines(old / "a.txt") == [{"new": 1}]


def test_run_claim_of_an_unwritable_place_is_one_error_and_leaves_nothing(tmp_path):
    from monas.io import RunClaim

    (tmp_path / "file").write_text("")
    with pytest.raises(RunDirError, match="cannot create"):
        RunClaim(tmp_path / "file" / "run", fresh=True, files=())
    assert [p.name for p in tmp_path.iterdir()] == ["file"]
