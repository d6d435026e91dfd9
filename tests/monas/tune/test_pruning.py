import numpy as np
import pytest
import torch

import search_spaces  # noqa: F401 - registers the spaces
from monas.complexity import count_complexity
from monas.tune.pruning import prune
from monas.registry import SPACES
from search_spaces.base import InputSpec
from search_spaces.darts.genotypes import PRIMITIVES

SPEC = InputSpec(3, 32, 10)


def _darts(op: str | None = None, seed: int = 0):
    space = SPACES.create("darts", init_channels=8, layers=3)
    lower, upper = space.bounds
    genome = np.random.default_rng(seed).integers(lower, upper + 1)
    if op is not None:  # every edge ``op``, every node reading the previous one
        genome = upper.copy()
        genome[0::2] = PRIMITIVES.index(op)
    torch.manual_seed(seed)
    return space.build(space.to_string(genome), SPEC)


@pytest.mark.parametrize("ratio, low, high", [(0.25, 0.5, 0.7), (0.5, 0.2, 0.4)])
def test_macs_and_params_drop_with_the_ratio(ratio, low, high):
    net = _darts(seed=1)
    macs, params = count_complexity(net, SPEC)
    small = prune(net, ratio, torch.randn(2, 3, 32, 32))
    small_macs, small_params = count_complexity(small, SPEC)
    # Channels shrink by (1 - ratio) on both sides of most convolutions.
    assert low < small_macs / macs < high
    assert low < small_params / params < high
    assert small.classifier.out_features == 10
    assert count_complexity(net, SPEC) == (macs, params)  # the original is untouched


@pytest.mark.parametrize("op", ["max_pool_3x3", "sep_conv_3x3", "dil_conv_5x5", "skip_connect"])
def test_every_darts_op_prunes_and_runs(op):
    # With every node reading its predecessor, each cell's first input is preprocessed but
    # never used: a branch DepGraph does not see unless it is traced explicitly.
    net = _darts(op)
    small = prune(net, 0.5, torch.randn(2, 3, 32, 32))
    assert small(torch.randn(3, 3, 32, 32)).shape == (3, 10)
    for m in small.modules():
        if isinstance(m, torch.nn.Conv2d) and m.groups > 1:  # depthwise stays depthwise
            assert m.groups == m.in_channels == m.out_channels
    assert count_complexity(small, SPEC)[0] < 0.4 * count_complexity(net, SPEC)[0]


def test_nb201_prunes_and_runs():
    space = SPACES.create("nb201", channels=8, cells_per_stage=1)
    net = space.build("|nor_conv_3x3~0|+|none~0|skip_connect~1|+|nor_conv_1x1~0|avg_pool_3x3~1|none~2|", SPEC)
    small = prune(net, 0.5, torch.randn(2, 3, 32, 32))
    assert small(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    assert count_complexity(small, SPEC)[0] < 0.4 * count_complexity(net, SPEC)[0]


def test_pruned_network_trains(one_thread):
    torch.manual_seed(0)
    small = prune(_darts(seed=2), 0.5, torch.randn(2, 3, 32, 32))
    x, y = torch.randn(16, 3, 32, 32), torch.randint(0, 10, (16,))
    optimizer = torch.optim.SGD(small.parameters(), lr=0.05, momentum=0.9)
    losses = []
    small.train()
    for _ in range(8):
        loss = torch.nn.functional.cross_entropy(small(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0]


@pytest.mark.parametrize("ratio", [0.0, 1.0, -0.1, 1.5])
def test_ratio_must_be_between_0_and_1(ratio):
    with pytest.raises(ValueError, match="between 0 and 1"):
        prune(_darts(seed=0), ratio, torch.randn(1, 3, 32, 32))


def test_auxiliary_head_keeps_its_logits_and_statistics_stay():
    from search_spaces.darts.genotypes import parse_genotype
    from search_spaces.darts.model import NetworkCIFAR

    space = SPACES.create("darts", init_channels=8, layers=6)
    genotype = parse_genotype(space.to_string(np.random.default_rng(0).integers(*space.bounds)))
    net = NetworkCIFAR(genotype, 8, 6, 10, auxiliary=True)
    for m in net.modules():  # trained-looking statistics, which pruning must not touch
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-1, 1)
    small = prune(net, 0.5, torch.randn(2, 3, 32, 32))
    assert small.auxiliary_head.classifier.out_features == 10
    kept = small.stem[1].running_mean
    assert len(kept) < len(net.stem[1].running_mean)
    assert all(torch.isclose(net.stem[1].running_mean, v).any() for v in kept)
    small.train()
    logits, auxiliary = small(torch.randn(2, 3, 32, 32))
    assert logits.shape == auxiliary.shape == (2, 10)
