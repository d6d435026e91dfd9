import pytest
import torch

from search_spaces.darts.genotypes import DARTS_V2, parse_genotype
from search_spaces.darts.model import NetworkCIFAR, NetworkImageNet

GENOTYPE = parse_genotype(DARTS_V2)


def test_imagenet_network_has_the_published_mobile_size():
    # DARTS (second order) reports 4.7M parameters in the mobile setting (48 channels, 14 cells).
    net = NetworkImageNet(GENOTYPE, 48, 14, 1000)
    assert 4.6e6 < sum(p.numel() for p in net.parameters()) < 4.8e6
    maps = net.forward_stages(torch.zeros(1, 3, 224, 224))
    assert [m.shape[-1] for m in maps] == [28, 14, 7]


@pytest.mark.parametrize("cls, resolution", [(NetworkCIFAR, 16), (NetworkCIFAR, 32), (NetworkCIFAR, 64),
                                             (NetworkImageNet, 32), (NetworkImageNet, 64)])
def test_auxiliary_head_in_training_only_at_any_resolution(cls, resolution):
    net = cls(GENOTYPE, 4, 5, 7, auxiliary=True)
    logits, auxiliary = net(torch.randn(2, 3, resolution, resolution))
    assert logits.shape == auxiliary.shape == (2, 7)
    net.eval()
    assert net(torch.randn(2, 3, resolution, resolution)).shape == (2, 7)


def test_without_auxiliary_head_the_network_is_unchanged():
    net = NetworkCIFAR(GENOTYPE, 4, 3, 10)
    assert not any(name.startswith("auxiliary_head") for name in net.state_dict())
    assert net(torch.randn(2, 3, 16, 16)).shape == (2, 10)


def test_drop_path_drops_edges_in_training_only():
    torch.manual_seed(0)
    net = NetworkCIFAR(GENOTYPE, 4, 3, 10)
    x = torch.randn(4, 3, 16, 16)
    net.eval()
    net.drop_path_prob = 0.5
    assert torch.equal(net(x), net(x))
    net.train()
    net.drop_path_prob = 0.0
    assert torch.equal(net(x), net(x))
    net.drop_path_prob = 0.5
    assert not torch.equal(net(x), net(x))
