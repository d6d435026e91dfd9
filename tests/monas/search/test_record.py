import json

import pytest

from monas.search.evaluation import Evaluation
from monas.search.record import RunDirError, RunRecord


def evaluation(i):
    return Evaluation(arch=f"a{i}", genome=[i], objectives={"error": 1.0 * i, "macs": 2.0, "params": 3.0}, seconds=0.1, generation=1)


def test_archive_round_trip_and_torn_last_line(tmp_path):
    record = RunRecord.create(tmp_path)
    for i in range(3):
        record.append_evaluation(evaluation(i))
    with open(tmp_path / "archive.jsonl", "a") as f:
        f.write('{"arch": "a3", "gen')  # a kill in the middle of a write
    assert [e.arch for e in record.read_archive()] == ["a0", "a1", "a2"]


def test_corrupt_line_inside_the_archive_is_an_error(tmp_path):
    record = RunRecord.create(tmp_path)
    (tmp_path / "archive.jsonl").write_text('{"arch": 1\n' + json.dumps(evaluation(1).to_json()) + "\n")
    with pytest.raises(RunDirError, match="line 1"):
        record.read_archive()


def test_refuses_a_folder_holding_another_run_and_keeps_it(tmp_path):
    RunRecord.create(tmp_path).write_config({"x": 1})
    with pytest.raises(RunDirError, match="already holds a run"):
        RunRecord.create(tmp_path)
    assert json.loads((tmp_path / "config.json").read_text()) == {"x": 1}
    RunRecord.create(tmp_path, overwrite=True)
    assert not (tmp_path / "config.json").exists()


def test_atomic_writes_leave_no_temporary_files(tmp_path):
    record = RunRecord.create(tmp_path)
    record.write_generations([{"generation": 1, "evaluations": 4, "front_size": 2, "hypervolume": 0.5, "seconds": 1.5}])
    record.write_checkpoint({"format": "x", "generations": []})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.json", "generations.csv"]
    assert record.read_generations() == [{"generation": 1, "evaluations": 4, "front_size": 2, "hypervolume": 0.5, "seconds": 1.5}]
    assert record.read_checkpoint() == {"format": "x", "generations": []}


def test_unreadable_checkpoint_is_refused(tmp_path):
    record = RunRecord.create(tmp_path)
    (tmp_path / "checkpoint.json").write_bytes(b"\x80\x04 not json")
    with pytest.raises(RunDirError, match="not a readable checkpoint"):
        record.read_checkpoint()


def test_a_pickled_checkpoint_of_an_older_monas_is_refused_unread(tmp_path):
    record = RunRecord.create(tmp_path)
    (tmp_path / "checkpoint.pkl").write_bytes(b"anything")
    with pytest.raises(RunDirError, match="written by an older monas .checkpoint.pkl. and cannot be resumed safely"):
        record.read_checkpoint()
