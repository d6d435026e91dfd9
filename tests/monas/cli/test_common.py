import pytest

from monas.cli.common import NEW, OVERWRITE, RESUME, OutPolicy, UsageError, key_values


def test_out_policy_decides_new_resume_overwrite_or_refuses_in_one_wording(tmp_path):
    assert OutPolicy(False).decide(tmp_path, [], "a run") == NEW
    assert OutPolicy(True).decide(tmp_path, [], "a run") == RESUME
    assert OutPolicy(False, True).decide(tmp_path, ["trials.jsonl"], "a run") == OVERWRITE
    with pytest.raises(UsageError) as refused:
        OutPolicy(False).decide(tmp_path, ["trials.jsonl"], "a run")
    assert str(refused.value) == f"{tmp_path} already holds a run (trials.jsonl); pass --resume to continue it or " \
                                 "--overwrite to replace it"
    with pytest.raises(UsageError, match=f"pass --resume {tmp_path} to continue it or choose another --out$"):
        OutPolicy(False, None, resume_takes_out=True).decide(tmp_path, ["config.json"], "a run")
    scores = tmp_path / "scores.jsonl"
    scores.write_text("")
    with pytest.raises(UsageError, match="scores.jsonl already holds scores; pass --resume"):
        OutPolicy(False).decide(scores, [scores.name], "scores")
    with pytest.raises(UsageError, match="^--resume and --overwrite exclude each other$"):
        OutPolicy(True, True)


def test_key_values_are_parsed_and_a_pair_without_a_key_or_equals_sign_is_refused():
    assert key_values(["a=1", "b=x=y", "a=2"], "--net") == {"a": "2", "b": "x=y"}
    for pair in ("a", "=1"):
        with pytest.raises(UsageError, match=f"--net '{pair}' is not KEY=VALUE"):
            key_values([pair], "--net")
