import numpy as np
import pytest
import torch
from sklearn.linear_model import RidgeClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from monas.estimators.heads import head_error, ridge_error


@pytest.mark.parametrize("alpha", [1e-3, 1e-1, 10.0])
def test_ridge_equals_scikit_learns_ridge_classifier(alpha):
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(400, 30, generator=g), torch.randint(0, 4, (400,), generator=g)
    x[:, 0] += y  # some signal
    xv, yv = torch.randn(200, 30, generator=g), torch.randint(0, 4, (200,), generator=g)
    xv[:, 0] += yv
    reference = make_pipeline(StandardScaler(), RidgeClassifier(alpha=alpha * 400)).fit(x.double().numpy(), y.numpy())
    expected = 100 * np.mean(reference.predict(xv.double().numpy()) != yv.numpy())
    assert ridge_error(x, y, xv, yv, alpha) == pytest.approx(expected)
    assert head_error("ridge", x, y, xv, yv, alpha) == pytest.approx(expected)


def test_constant_features_do_not_break_the_fit():
    x = torch.zeros(50, 5)
    y = torch.arange(50) % 2
    assert 0 <= ridge_error(x, y, x, y, 1e-3) <= 100
