"""The ``forward_blocks`` contract, checked on every space: the stem's output and one map
per block, each a function of the previous one, ending with the network's final map."""
import numpy as np
import pytest
import torch

from search_spaces import SPACES
from search_spaces.base import InputSpec

SPEC = InputSpec(3, 16, 10)
CASES = {
    # (space, options, number of blocks after the stem)
    "nb201": ({"channels": 4, "cells_per_stage": 2}, 3 * 2 + 2),
    "darts": ({"init_channels": 4, "layers": 5}, 5),
    "mobilenetv3": ({"width": 0.25}, None),  # first block + inverted residuals + final expansion
}


def build(name):
    options, blocks = CASES[name]
    space = SPACES.create(name, **options)
    genome = np.random.default_rng(0).integers(space.bounds[0], space.bounds[1] + 1)
    torch.manual_seed(0)
    net = space.build(space.canonical(genome), SPEC).eval()
    if blocks is None:
        blocks = 1 + len(net.blocks) + 1
    return net, blocks


@pytest.mark.parametrize("name", sorted(CASES))
def test_one_map_per_block_ending_with_the_final_map(name):
    net, blocks = build(name)
    x = torch.randn(2, 3, 16, 16)
    maps = net.forward_blocks(x)
    assert len(maps) == 1 + blocks
    assert all(m.ndim == 4 and m.shape[0] == 2 for m in maps)
    final = net.forward_stages(x)[-1]
    last = net.lastact(maps[-1]) if name == "nb201" else maps[-1]  # nb201's last stage map adds BN + ReLU
    assert torch.allclose(last, final)


@pytest.mark.parametrize("name", sorted(CASES))
def test_consecutive_maps_are_joined_by_gradients(name):
    net, _ = build(name)
    maps = net.forward_blocks(torch.randn(2, 3, 16, 16))
    for before, after in zip(maps[:-1], maps[1:]):
        (grad,) = torch.autograd.grad(after.sum(), before, retain_graph=True, allow_unused=False)
        assert grad.shape == before.shape
