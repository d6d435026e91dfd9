import pytest
import torch

from monas.estimators import ESTIMATORS, EstimationError
from monas.estimators.zero_cost import ignores_input, input_jacobians


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
