import torch
from torch import nn

from monas.complexity import count_complexity
from search_spaces import SPACES
from search_spaces.base import InputSpec


def test_macs_and_params_of_a_hand_checkable_network():
    # conv 3->8, 3x3, padding 1, no bias, on 8x8: 8*8 outputs * 8 channels * (3*3*3) = 13,824 MACs
    # batch-norm and pooling: 0 MACs (folded / no multiplications); BN has 2*8 parameters
    # linear 4*4*8 -> 10, no bias: 128 * 10 = 1,280 MACs. Params: 8*3*3*3 + 16 + 128*10.
    net = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(), nn.AvgPool2d(2),
        nn.Flatten(), nn.Linear(128, 10, bias=False),
    )
    macs, params = count_complexity(net, InputSpec(3, 8, 10))
    assert macs == 13_824 + 1_280
    assert params == 216 + 16 + 1_280


def test_counting_leaves_the_network_untouched():
    net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(4 * 6 * 6, 2))
    before = {k: v.clone() for k, v in net.state_dict().items()}
    count_complexity(net, InputSpec(1, 8, 2))
    after = net.state_dict()
    assert before.keys() == after.keys()  # thop's total_ops/total_params buffers stayed on the copy
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert all(not hasattr(m, "total_ops") for m in net.modules())


def test_an_auxiliary_head_is_not_counted():
    from search_spaces.darts.genotypes import parse_genotype
    from search_spaces.darts.model import NetworkCIFAR

    darts = SPACES.create("darts")
    genotype = parse_genotype(darts.to_string(darts.bounds[1]))
    spec = InputSpec(3, 32, 10)
    with_head = NetworkCIFAR(genotype, 8, 8, 10, auxiliary=True)
    assert sum(p.numel() for p in with_head.auxiliary_head.parameters()) > 0
    assert count_complexity(with_head, spec) == count_complexity(NetworkCIFAR(genotype, 8, 8, 10), spec)
