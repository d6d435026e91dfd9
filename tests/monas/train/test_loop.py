import itertools
import math
from types import SimpleNamespace

import pytest
import torch

from monas.train import loop
from monas.train.loop import CHECKPOINT, METRICS, TrainConfig, TrainingStateError, train
from search_spaces.darts.genotypes import parse_genotype
from search_spaces.darts.model import NetworkCIFAR
from tests.search_spaces.test_darts import DARTS_V2

CPU = torch.device("cpu")
# Tiny and fast: 32 images of 16x16, 4 steps per epoch.
FAST = {"epochs": 2, "batch_size": 8, "loader_workers": 0, "eval_every": 0.5, "eval_batch_size": 16}


def data(n=32, resolution=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (n, 3, resolution, resolution), dtype=torch.uint8, generator=g)
    return images, torch.randint(0, 10, (n,), generator=g)


def network(auxiliary=True):
    torch.manual_seed(1)
    return NetworkCIFAR(parse_genotype(DARTS_V2), 4, 3, 10, auxiliary=auxiliary)


def without_times(history):
    return [{k: v for k, v in row.items() if k != "train_seconds"} for row in history]


def test_schedule_warms_up_then_decays_to_zero():
    cosine = TrainConfig(epochs=10, lr=0.1, warmup_epochs=2)
    assert cosine.lr_at(0.0) == 0.0 and cosine.lr_at(0.1) == pytest.approx(0.05)
    assert cosine.lr_at(0.2) == pytest.approx(0.1) and cosine.lr_at(0.6) == pytest.approx(0.05)
    assert cosine.lr_at(1.0) == pytest.approx(0.0, abs=1e-12)
    linear = TrainConfig(epochs=10, lr=0.1, warmup_epochs=2, schedule="linear")
    assert linear.lr_at(0.6) == pytest.approx(0.05) and linear.lr_at(0.8) == pytest.approx(0.025)


@pytest.mark.parametrize("bad, message", [
    ({"batch_size": 1}, "batch_size"), ({"schedule": "step"}, "schedule"), ({"cutout": -1}, "cutout"),
    ({"time_budget": 0}, "time_budget"), ({"drop_path": 1.0}, "drop_path"),
])
def test_config_rejects_bad_values(bad, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**bad).validate()


def test_preempted_run_resumes_bit_identically(tmp_path):
    train_data, test_data = data(), data(16, seed=1)
    config = TrainConfig(**FAST, mixup=0.2, cutmix=1.0, randaugment=5)
    whole = network()
    uninterrupted = train(whole, train_data, test_data, config, CPU)

    polls = iter(range(100))
    first = train(network(), train_data, test_data, config, CPU, out_dir=tmp_path,
                  should_stop=lambda: next(polls) >= 2)  # preempted after step 3, mid-epoch
    assert first.preempted and first.steps == 3
    resumed_net = network()
    resumed = train(resumed_net, train_data, test_data, config, CPU, out_dir=tmp_path, resume=True)
    assert not resumed.preempted and resumed.steps == uninterrupted.steps == 8
    assert without_times(resumed.history) == without_times(uninterrupted.history)
    for a, b in zip(whole.state_dict().values(), resumed_net.state_dict().values()):
        assert torch.equal(a, b)
    metrics = (tmp_path / METRICS).read_text().splitlines()
    assert metrics[0].startswith("epoch,step,lr") and len(metrics) == 1 + 4


def test_metrics_also_go_to_tensorboard(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    result = train(network(), data(), data(16, seed=1), TrainConfig(**FAST), CPU, out_dir=tmp_path)
    events = EventAccumulator(str(tmp_path / "tensorboard"))
    events.Reload()
    accuracy = events.Scalars("accuracy")
    assert [e.step for e in accuracy] == [row["step"] for row in result.history] == [2, 4, 6, 8]
    assert [e.value for e in accuracy] == pytest.approx([row["accuracy"] for row in result.history])


def test_finished_run_resumes_to_its_result_and_other_settings_are_refused(tmp_path):
    train_data, test_data = data(), data(16, seed=1)
    config = TrainConfig(**FAST)
    done = train(network(), train_data, test_data, config, CPU, out_dir=tmp_path)
    again = train(network(), train_data, test_data, config, CPU, out_dir=tmp_path, resume=True)
    assert again.history == done.history and again.steps == done.steps
    with pytest.raises(TrainingStateError, match="lr=0.025"):
        train(network(), train_data, test_data, TrainConfig(**FAST, lr=0.1), CPU, out_dir=tmp_path, resume=True)
    (tmp_path / CHECKPOINT).write_bytes(b"not a checkpoint")
    with pytest.raises(TrainingStateError, match="not a readable checkpoint"):
        train(network(), train_data, test_data, config, CPU, out_dir=tmp_path, resume=True)


class FakeStopper:
    def __init__(self, stop_at):
        self.stop_at, self.seen, self.prediction = stop_at, [], None

    def update(self, epoch, accuracy):
        self.seen.append((epoch, accuracy))
        self.prediction = 42.0
        return len(self.seen) >= self.stop_at


def test_stopper_sees_every_evaluation_and_stops_training():
    stopper, rows = FakeStopper(stop_at=3), []
    result = train(network(auxiliary=False), *[data(), data(16, seed=1)], TrainConfig(**FAST), CPU,
                   stopper=stopper, on_eval=rows.append)
    assert [e for e, _ in stopper.seen] == [0.5, 1.0, 1.5]
    assert result.stopped_early and result.prediction == 42.0 and result.epochs == 1.5 and result.steps == 6
    assert rows == result.history and result.test_accuracy == rows[-1]["accuracy"]


def test_time_budget_fits_the_schedule_and_stops(monkeypatch):
    ticks = itertools.count()
    monkeypatch.setattr(loop, "time", SimpleNamespace(perf_counter=lambda: next(ticks) / 16))  # a step takes 1/16 s
    config = TrainConfig(**{**FAST, "epochs": 1000}, time_budget=1.0)
    result = train(network(auxiliary=False), data(), data(16, seed=1), config, CPU)
    assert result.steps == 16 and result.epochs == 4 and result.train_seconds == 1.0
    rates = [row["lr"] for row in result.history]
    assert rates == sorted(rates, reverse=True) and 0 <= rates[-1] < 0.1 * config.lr  # the schedule ran its course


def test_max_steps_stops_without_changing_the_schedule():
    config = TrainConfig(**FAST, max_steps=3)
    result = train(network(), data(), data(16, seed=1), config, CPU)
    assert result.steps == 3 and math.isfinite(result.test_loss)
    assert result.history[-1]["step"] == 3 and result.history[-1]["lr"] == pytest.approx(config.lr_at(2 / 8))


def test_tensor_data_must_be_uint8_images():
    images, labels = data()
    with pytest.raises(TypeError, match="uint8"):
        train(network(), (images.float(), labels), data(16), TrainConfig(**FAST), CPU)
