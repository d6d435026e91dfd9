import pytest
import torch

from monas.estimators import ESTIMATORS, EstimationError
from monas.estimators.zero_cost import ignores_input, input_jacobians, seeded_minibatch, seeded_network


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
    a = seeded_network(lambda: torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.Dropout()), 4, torch.device("cpu"))
    b = seeded_network(lambda: torch.nn.Linear(3, 2), 4, torch.device("cpu"))
    assert torch.equal(torch.random.get_rng_state(), state)
    assert torch.equal(a[0].weight, b.weight)
    assert a.training and not a[1].training  # dropout off


def test_disconnection_is_identical_logits_for_every_image():
    assert ignores_input(torch.tensor([[1.0, 2.0], [1.0, 2.0], [1.0, 2.0]]))
    assert not ignores_input(torch.tensor([[1.0, 2.0], [1.0, 2.5]]))


def test_input_jacobians_are_gradients_of_each_images_summed_logits():
    net = torch.nn.Linear(3, 2, bias=False)
    jacobians, logits = input_jacobians(net, torch.randn(4, 3))
    assert jacobians.dtype == torch.float64 and logits.shape == (4, 2)
    assert torch.allclose(jacobians, net.weight.detach().double().sum(0).expand(4, 3))


def test_scores_need_images():
    with pytest.raises(EstimationError, match="images"):
        ESTIMATORS.create("snip").estimate("", lambda: torch.nn.Linear(3, 2), None, torch.device("cpu"))
