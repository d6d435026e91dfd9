import os

from monas.train.distributed import DistEnv, PreemptionFlag, detect, init, rank_and_world


def test_detect_reads_torchrun_variables(monkeypatch):
    for key, value in {"RANK": "3", "WORLD_SIZE": "8", "LOCAL_RANK": "1", "MASTER_ADDR": "node7", "MASTER_PORT": "1234"}.items():
        monkeypatch.setenv(key, value)
    assert detect() == DistEnv(3, 8, 1, "node7", 1234)
    assert not detect().is_main


def test_single_process_without_a_launcher(monkeypatch):
    for key in ("RANK", "WORLD_SIZE", "SUBMITIT_EXECUTOR"):
        monkeypatch.delenv(key, raising=False)
    env = detect()
    assert env == DistEnv() and env.is_main
    assert str(init(env, "cpu")) == "cpu" and rank_and_world() == (0, 1)


def test_preemption_flag_is_set_by_sigusr1():
    import signal

    previous = {s: signal.getsignal(s) for s in PreemptionFlag.SIGNALS}
    with PreemptionFlag() as flag:
        assert not flag()
        os.kill(os.getpid(), signal.SIGUSR1)
        assert flag() and flag.signum == signal.SIGUSR1
    assert {s: signal.getsignal(s) for s in PreemptionFlag.SIGNALS} == previous
