"""Latency measurement: a positive median in milliseconds, the network left in
evaluation mode on the device. Timings themselves are not asserted (benchmarks/
latency_repeatability.py measures their repeatability)."""
import pickle

import torch
from torch import nn

from monas.latency import LatencyProbe, measure_latency
from search_spaces.base import InputSpec

SPEC = InputSpec(channels=1, resolution=8, num_classes=3)


def tiny():
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(256, 3))


def test_latency_is_positive_milliseconds_and_leaves_the_network_in_eval_mode(monkeypatch):
    monkeypatch.setattr("monas.latency.MIN_RUN_S", 0.01)
    net = tiny().train()
    latency = measure_latency(net, SPEC, torch.device("cpu"), batch_size=4)
    assert 0 < latency < 1000 and not net.training


def test_the_probe_is_picklable_for_dask_workers(monkeypatch):
    monkeypatch.setattr("monas.latency.MIN_RUN_S", 0.01)
    probe = pickle.loads(pickle.dumps(LatencyProbe(torch.device("cpu"), batch_size=2)))
    assert probe.batch_size == 2 and probe(tiny(), SPEC) > 0
