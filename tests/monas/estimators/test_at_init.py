import torch
from torch import nn

from monas.estimators.at_init import kaiming_fan_in_init, seeded_build, seeded_minibatch, train_without_dropout


def test_the_minibatch_is_a_seeded_subset_in_index_order():
    images, labels = torch.arange(20.0)[:, None], torch.arange(20)
    x, y = seeded_minibatch(images, labels, 5, seed=1)
    again, _ = seeded_minibatch(images, labels, 5, seed=1)
    other, _ = seeded_minibatch(images, labels, 5, seed=2)
    assert torch.equal(x, again) and not torch.equal(x, other)
    assert torch.equal(x[:, 0].long(), y) and bool((y[1:] > y[:-1]).all())
    assert seeded_minibatch(images, labels, 50, seed=1)[0] is images


def test_the_network_is_seeded_without_touching_the_global_generator():
    state = torch.random.get_rng_state()
    a = train_without_dropout(seeded_build(lambda: nn.Sequential(nn.Linear(3, 2), nn.Dropout()), 4), torch.device("cpu"))
    b = seeded_build(lambda: nn.Linear(3, 2), 4)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert torch.equal(a[0].weight, b.weight)
    assert a.training and not a[1].training  # dropout off


def test_the_reinitialisation_draws_from_the_same_seeded_generator():
    state = torch.random.get_rng_state()
    build = lambda: nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.Linear(8, 2))  # noqa: E731
    a = seeded_build(build, 5, init=kaiming_fan_in_init)
    b = seeded_build(build, 5, init=kaiming_fan_in_init)
    plain = seeded_build(build, 5)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert torch.equal(a[0].weight, b[0].weight) and not torch.equal(a[0].weight, plain[0].weight)
    assert not a[0].bias.any() and not a[2].bias.any()
    assert bool((a[1].weight == 1).all()) and not a[1].bias.any()
