"""Inference latency: the time one forward pass of a network takes, measured.

What it promises: ``measure_latency`` returns the median time, in milliseconds, of one
forward pass of ``net`` in evaluation mode without autograd, on ``device``, for a batch
of ``batch_size`` ``spec``-shaped images. The network first runs ``WARMUP_RUNS``
passes (memory allocation, cuDNN's algorithm choice, lazy initialisation), then
``torch.utils.benchmark.Timer.adaptive_autorange`` times blocks of passes until their
spread is small (interquartile range under ``SPREAD_THRESHOLD`` of the median, after at
least ``MIN_RUN_S`` seconds of timed passes) or ``MAX_RUN_S`` seconds have passed; the
median of those blocks is the latency.

- On CUDA the time is wall-clock, the device synchronised around each block, so queued
  kernels are counted.
- On the CPU the passes run on one thread and the time is that thread's CPU time
  (``time.thread_time``): what the network takes on one core, not counting time the
  thread waits for a core. Wall-clock time on a machine shared with other work
  measures the load as much as the network: in docs/benchmarks.md, nine networks timed
  twice by wall-clock on a loaded machine differed by 24 % in the median (up to 38 %),
  by CPU time by 1.4-3 % in the median (CPU time leaves out the waiting that load adds).

A latency is a property of the network *and* of the device: the same network measured
on another device (a Dask worker's own GPU or CPU), or at another batch size, gives
another figure. ``benchmarks/latency_repeatability.py`` measures the repeatability.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import torch
from torch import nn

from search_spaces.base import InputSpec

WARMUP_RUNS = 3
MIN_RUN_S = 0.2
MAX_RUN_S = 2.0
SPREAD_THRESHOLD = 0.1
LATENCY_DECIMALS = 4
"""Decimals of a millisecond kept (0.1 microseconds: far below the run-to-run spread)."""
WORST_LATENCY_MS = 1e9
"""What a search records for a network whose timing failed: above any bound."""


def _timer_class():
    # Importing torch.utils.benchmark imports torch.utils.cpp_extension, which logs a
    # warning about CUDA_HOME on machines without a CUDA runtime: noise for a user who
    # asked for a latency, not for a compiler.
    extension_log = logging.getLogger("torch.utils.cpp_extension")
    level = extension_log.level
    extension_log.setLevel(logging.ERROR)
    try:
        from torch.utils.benchmark import Timer
    finally:
        extension_log.setLevel(level)
    return Timer


def measure_latency(net: nn.Module, spec: InputSpec, device: torch.device, batch_size: int = 1) -> float:
    """Median milliseconds of one forward pass of ``net`` on ``device`` for a batch of
    ``batch_size`` images (see the module's docstring). Moves ``net`` to ``device`` and
    leaves it there in evaluation mode."""
    net = net.to(device).eval()
    images = torch.zeros(batch_size, spec.channels, spec.resolution, spec.resolution, device=device)
    clock = {"timer": time.thread_time} if device.type == "cpu" else {}  # else torch's: wall-clock, synchronised
    with torch.no_grad():
        for _ in range(WARMUP_RUNS):
            net(images)
        timer = _timer_class()(stmt="net(images)", globals={"net": net, "images": images}, num_threads=1, **clock)
        measurement = timer.adaptive_autorange(SPREAD_THRESHOLD, min_run_time=MIN_RUN_S, max_run_time=MAX_RUN_S)
    return round(measurement.median * 1e3, LATENCY_DECIMALS)


@dataclass(frozen=True)
class LatencyProbe:
    """Where and at which batch size a search measures latency: a picklable setting
    (sent to Dask workers with the evaluator), called as ``probe(net, spec)``."""

    device: torch.device
    batch_size: int = 1

    def __call__(self, net: nn.Module, spec: InputSpec) -> float:
        """``measure_latency`` of ``net`` with this probe's device and batch size."""
        return measure_latency(net, spec, self.device, self.batch_size)
