"""``SearchSpace.cell_probes``: each kind of cell alone on the raw input."""
import numpy as np
import torch
from torch import nn

from search_spaces import SPACES
from search_spaces.base import InputSpec
from search_spaces.darts.genotypes import parse_genotype

SPEC = InputSpec(channels=3, resolution=16, num_classes=7)
NB201_ARCH = "|nor_conv_3x3~0|+|none~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_1x1~1|nor_conv_3x3~2|"
DARTS_ARCH = ("Genotype(normal=[('sep_conv_3x3', 0), ('skip_connect', 1), ('max_pool_3x3', 0), ('sep_conv_3x3', 2), "
              "('dil_conv_3x3', 1), ('skip_connect', 2), ('avg_pool_3x3', 0), ('sep_conv_5x5', 3)], normal_concat=[2, 3, 4, 5], "
              "reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), "
              "('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), ('avg_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])")


def logits(net: nn.Module) -> torch.Tensor:
    return net(torch.randn(2, SPEC.channels, SPEC.resolution, SPEC.resolution))


def test_nb201_probes_its_one_cell_on_the_image_channels():
    (probe,) = SPACES.create("nb201").cell_probes(NB201_ARCH, SPEC)
    net = probe()
    assert logits(net).shape == (2, SPEC.num_classes)
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 3  # the three convolution edges; no stem
    assert all(c.in_channels == c.out_channels == SPEC.channels for c in convs)


def test_darts_probes_the_normal_then_the_reduction_cell():
    normal, reduce = (build() for build in SPACES.create("darts").cell_probes(DARTS_ARCH, SPEC))
    genotype = parse_genotype(DARTS_ARCH)
    assert not normal.cell.reduction and reduce.cell.reduction
    assert [type(op).__name__ for op in normal.cell.ops] != [type(op).__name__ for op in reduce.cell.ops]
    assert len(normal.cell.ops) == len(genotype.normal)
    assert normal.cell.preprocess1[1].in_channels == SPEC.channels  # the image itself, no stem
    # The reduction cell doubles the channels and halves the resolution, as in the network.
    assert normal.classifier.in_features == 4 * SPEC.channels
    assert reduce.classifier.in_features == 8 * SPEC.channels
    for net in (normal, reduce):
        assert logits(net).shape == (2, SPEC.num_classes)


def test_each_call_builds_a_fresh_network_and_the_seed_sets_its_weights():
    (probe,) = SPACES.create("nb201").cell_probes(NB201_ARCH, SPEC)
    torch.manual_seed(0)
    a = probe()
    torch.manual_seed(0)
    b = probe()
    assert a is not b
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def test_a_space_without_cells_probes_the_network_itself():
    space = SPACES.create("mobilenetv3")
    arch = space.canonical(np.random.default_rng(0).integers(space.bounds[0], space.bounds[1] + 1))
    spec = InputSpec(channels=3, resolution=32, num_classes=7)
    (probe,) = space.cell_probes(arch, spec)
    torch.manual_seed(0)
    net = probe()
    torch.manual_seed(0)
    whole = space.build(arch, spec)
    assert type(net) is type(whole)
    assert all(torch.equal(x, y) for x, y in zip(net.state_dict().values(), whole.state_dict().values()))
