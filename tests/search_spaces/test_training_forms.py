"""The training forms of every space (``build_for_training``): each builds and takes one
optimizer step; a form a space lacks, an unknown setting and a bad value are refused;
the published networks have their published sizes."""
import numpy as np
import pytest
import torch

from search_spaces import SPACES
from search_spaces.base import ArchitectureError, InputSpec
from search_spaces.darts.genotypes import DARTS_V2, NSGA_NET, PUBLISHED

# (space, form, small settings, input resolution)
FORMS = [
    ("darts", "cifar", {"init_channels": 4, "layers": 3}, 16),
    ("darts", "imagenet", {"init_channels": 4, "layers": 3}, 32),
    ("mobilenetv3", "cifar", {"width": 0.25}, 16),
    ("mobilenetv3", "imagenet", {"width": 0.25}, 32),
    ("nb201", "cifar", {"channels": 4, "cells_per_stage": 1}, 16),
]


def random_arch(space) -> str:
    genome = np.random.default_rng(0).integers(space.bounds[0], space.bounds[1] + 1)
    return space.to_string(genome)


@pytest.mark.parametrize("name, form, settings, resolution", FORMS, ids=[f"{f[0]}-{f[1]}" for f in FORMS])
def test_every_form_builds_and_takes_one_step(name, form, settings, resolution):
    space = SPACES.create(name)
    torch.manual_seed(0)
    net = space.build_for_training(random_arch(space), InputSpec(3, resolution, 5), form, auxiliary=True, **settings)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1)
    output = net(torch.randn(4, 3, resolution, resolution))
    logits = output[0] if isinstance(output, tuple) else output  # darts: (logits, auxiliary logits)
    assert isinstance(output, tuple) == (name == "darts") and logits.shape == (4, 5)
    before = [p.detach().clone() for p in net.parameters()]
    torch.nn.functional.cross_entropy(logits, torch.arange(4) % 5).backward()
    optimizer.step()
    assert any(not torch.equal(a, b) for a, b in zip(before, net.parameters()))
    net.eval()
    assert net(torch.randn(2, 3, resolution, resolution)).shape == (2, 5)


def test_nb201_has_no_imagenet_form():
    space = SPACES.create("nb201")
    with pytest.raises(ArchitectureError, match="^the nb201 space has no ImageNet form$"):
        space.build_for_training(random_arch(space), InputSpec(3, 224, 1000), "imagenet")


@pytest.mark.parametrize("name, settings, message", [
    ("darts", {"width": 1.0}, "the darts space has no network setting 'width' (known: init_channels, layers)"),
    ("darts", {"init_channels": 5}, "init_channels must be a positive even number"),
    ("mobilenetv3", {"dropout": 1.0}, "dropout must be in [0, 1)"),
    ("nb201", {"cells_per_stage": 0}, "cells_per_stage must be at least 1"),
])
def test_bad_settings_are_refused(name, settings, message):
    space = SPACES.create(name)
    with pytest.raises(ArchitectureError) as error:
        space.build_for_training(random_arch(space), InputSpec(3, 32, 10), **settings)
    assert message in str(error.value)


def test_defaults_are_the_published_training_networks():
    # DARTS (second order): 3.3M parameters on CIFAR-10 (36 channels, 20 cells) and 4.7M
    # on ImageNet in the mobile setting (48, 14), without the auxiliary head.
    darts = SPACES.create("darts")
    for form, spec, low, high in (("cifar", InputSpec(3, 32, 10), 3.2e6, 3.4e6),
                                  ("imagenet", InputSpec(3, 224, 1000), 4.6e6, 4.8e6)):
        with torch.device("meta"):
            net = darts.build_for_training(DARTS_V2, spec, form)
        assert low < sum(p.numel() for p in net.parameters()) < high, form


def test_published_darts_cells_all_build_nsga_net_outside_the_search_encoding():
    darts = SPACES.create("darts")
    for name, arch in PUBLISHED.items():
        darts.check_arch(arch)
        with torch.device("meta"):
            darts.build_for_training(arch, InputSpec(3, 32, 10))
    # Five nodes, not all concatenated: no genome of the search encoding holds it.
    with pytest.raises(ArchitectureError, match="concatenates every node"):
        SPACES.create("darts", blocks=5).from_string(NSGA_NET)


def test_mobilenetv3_imagenet_form_keeps_imagenet_strides_at_any_resolution():
    space = SPACES.create("mobilenetv3")
    arch = random_arch(space)
    for form, resolution, final in (("imagenet", 224, 7), ("imagenet", 64, 2), ("cifar", 64, 4), ("cifar", 32, 4)):
        net = space.build_for_training(arch, InputSpec(3, resolution, 10), form, width=0.25).eval()
        with torch.no_grad():
            assert net.forward_stages(torch.zeros(1, 3, resolution, resolution))[-1].shape[-1] == final, (form, resolution)


def test_mobilenetv3_dropout_acts_in_training_only():
    space = SPACES.create("mobilenetv3")
    net = space.build_for_training(random_arch(space), InputSpec(3, 32, 10), width=0.25, dropout=0.5)
    x = torch.randn(2, 3, 32, 32)
    torch.manual_seed(0)
    assert not torch.equal(net(x), net(x))
    net.eval()
    assert torch.equal(net(x), net(x)) and torch.equal(net(x), net.classifier(net.forward_features(x)))
