"""Linear heads fitted on cached features: closed-form ridge or logistic regression."""
from __future__ import annotations

import numpy as np
import torch

HEADS = ("ridge", "logistic")


def head_error(
    head: str, train_f: torch.Tensor, train_y: torch.Tensor, val_f: torch.Tensor, val_y: torch.Tensor, alpha: float
) -> float:
    """Fit ``head`` on standardised training features and return its validation error (%).

    ``alpha`` is the L2 strength per training image for either head (scikit-learn's
    ridge ``alpha = alpha * n``; logistic ``C = 1 / (alpha * n)``), so one value means
    the same regularisation whatever the number of images.
    """
    if head == "ridge":
        return ridge_error(train_f, train_y, val_f, val_y, alpha)
    if head == "logistic":
        # imported here: scikit-learn's import costs seconds and only this head needs it
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        # lbfgs needs ~300 iterations where the classes barely separate (random labels on
        # digits); 200 stopped it unconverged, with a ConvergenceWarning
        model = LogisticRegression(C=1.0 / (alpha * len(train_f)), max_iter=1000)
        fitted = make_pipeline(StandardScaler(), model).fit(train_f.double().cpu().numpy(), train_y.cpu().numpy())
        return float(100.0 * np.mean(fitted.predict(val_f.double().cpu().numpy()) != val_y.cpu().numpy()))
    raise ValueError(f"unknown head {head!r} (known: {', '.join(HEADS)})")


def ridge_error(train_f: torch.Tensor, train_y: torch.Tensor, val_f: torch.Tensor, val_y: torch.Tensor, alpha: float) -> float:
    """Validation error (%) of a one-vs-all ridge classifier on standardised features.

    The same estimator as scikit-learn's ``RidgeClassifier(alpha * n)`` behind a
    ``StandardScaler`` (targets +-1, intercept), solved in float64 on the features'
    own device, so GPU features need no copy to the host.
    """
    mean, std = standardiser(train_f)
    x = (train_f.double() - mean) / std
    classes = int(max(train_y.max(), val_y.max())) + 1
    y = -torch.ones(len(x), classes, dtype=torch.float64, device=x.device)
    y[torch.arange(len(x)), train_y] = 1.0
    y_mean = y.mean(0)
    gram = x.T @ x + alpha * len(x) * torch.eye(x.shape[1], dtype=torch.float64, device=x.device)
    weights = torch.linalg.solve(gram, x.T @ (y - y_mean))
    scores = ((val_f.double() - mean) / std) @ weights + y_mean
    return float(100.0 * (scores.argmax(1) != val_y).double().mean())


def standardiser(train_f: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """float64 per-feature mean and deviation of ``train_f`` (deviation 1 where a feature
    is constant), as scikit-learn's ``StandardScaler`` computes them."""
    x = train_f.double()
    mean, std = x.mean(0), x.std(0, unbiased=False)
    return mean, torch.where(std > 0, std, torch.ones_like(std))
