"""Linear heads fitted on cached features: closed-form ridge or logistic regression."""
from __future__ import annotations

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression, RidgeClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

HEADS = ("ridge", "logistic")


def head_error(
    head: str, train_f: torch.Tensor, train_y: torch.Tensor, val_f: torch.Tensor, val_y: torch.Tensor, alpha: float
) -> float:
    """Fit ``head`` on standardised training features and return its validation error (%).

    ``alpha`` is the L2 strength per training image for either head (scikit-learn's
    ridge ``alpha = alpha * n``; logistic ``C = 1 / (alpha * n)``), so one value means
    the same regularisation whatever the number of images.
    """
    x_train = train_f.double().cpu().numpy()
    x_val = val_f.double().cpu().numpy()
    if head == "ridge":
        model = RidgeClassifier(alpha=alpha * len(x_train))
    elif head == "logistic":
        model = LogisticRegression(C=1.0 / (alpha * len(x_train)), max_iter=200)
    else:
        raise ValueError(f"unknown head {head!r} (known: {', '.join(HEADS)})")
    fitted = make_pipeline(StandardScaler(), model).fit(x_train, train_y.cpu().numpy())
    return float(100.0 * np.mean(fitted.predict(x_val) != val_y.cpu().numpy()))
