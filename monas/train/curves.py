"""Learning-curve early termination: the PEng4NN performance-estimation engine.

While a network trains, PEng4NN (Keller Rorabaugh et al., arXiv 2101.04185) fits the
parametric learning curve ``acc(x) = a - b**(c - x)`` to the validation accuracy (%)
measured so far (``x`` in epochs, measured every half epoch), predicts the accuracy at
the final epoch, and declares the prediction converged once the last ``window``
predictions lie within ``tolerance`` accuracy points of their median; training can
then stop and the prediction stands in for the final accuracy.

Fit settings (the published engine's): accuracies in %, start ``a=10, b=1.001,
c=100``, bounds ``a`` in ``[0.5, 200]``, ``b >= 1`` (with ``b > 1`` the curve rises
towards its asymptote ``a``; ``b = 1`` is a flat curve at ``a - 1``) and ``c >= 0``
(``c`` shifts the curve along the epoch axis; it passes ``a - 1`` at epoch ``c``).
The bound on ``a`` is deliberately above 100 %: a curve that is still rising
steeply extrapolates beyond 100 %, and those predictions move from fit to fit, so
they do not converge. Capping ``a`` at 100 would make successive fits to such
curves all sit at the cap and "converge" on an accuracy the network never reaches
(seen on a digits network rising 10 points per epoch). A prediction can therefore
exceed 100 %; users of it as an accuracy clip it to [0, 100].
"""
from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import numpy as np
from scipy.optimize import OptimizeWarning, curve_fit

START = (10.0, 1.001, 100.0)
LOWER = (0.5, 1.0, 0.0)
UPPER = (200.0, np.inf, np.inf)


def learning_curve(x: np.ndarray | float, a: float, b: float, c: float) -> np.ndarray | float:
    """``a - b**(c - x)``, the PEng4NN curve: accuracy (%) after ``x`` epochs. Computed
    as ``exp((c - x) log b)``; an overflow far from the data gives -inf, not an error."""
    with np.errstate(over="ignore"):
        return a - np.exp((c - np.asarray(x, dtype=float)) * np.log(b))


def fit_learning_curve(epochs: Sequence[float], accuracies: Sequence[float]) -> tuple[float, float, float] | None:
    """The parameters ``(a, b, c)`` of ``learning_curve`` fitted by least squares
    (``scipy.optimize.curve_fit``, trust-region reflective within the module's bounds)
    to accuracies (%) measured after ``epochs`` epochs; None when the fit fails (no
    convergence, too few points, non-finite data or parameters)."""
    x = np.asarray(epochs, dtype=float)
    y = np.asarray(accuracies, dtype=float)
    if len(x) != len(y) or len(x) < 3 or not (np.isfinite(x).all() and np.isfinite(y).all()):
        return None
    try:
        with warnings.catch_warnings():
            # Fewer points than parameters' worth of information: the covariance is
            # unknown, which does not matter here (only the parameters are used).
            warnings.simplefilter("ignore", OptimizeWarning)
            params, _ = curve_fit(learning_curve, x, y, p0=START, bounds=(LOWER, UPPER), maxfev=5000)
    except (RuntimeError, ValueError):
        return None
    a, b, c = (float(p) for p in params)
    if not all(math.isfinite(p) for p in (a, b, c)):
        return None
    return a, b, c


class CurveStopper:
    """Feeds validation accuracies to the PEng4NN engine and says when to stop.

    Call ``update(epoch, accuracy)`` after each measurement (accuracy in %, ``epoch``
    increasing; the engine measures every half epoch). From the ``min_points``-th
    measurement on, each update fits the learning curve to all measurements so far and
    sets ``prediction`` to the curve's value at ``final_epoch``; an update whose fit
    fails (or whose prediction is not finite) has no prediction. The prediction has
    converged when the last ``window`` updates all have predictions and these lie
    within ``tolerance`` accuracy points of their median.

    With ``stop_below`` > 0 the stopper also gives up on networks that will not
    matter: once the last ``window`` updates have predictions and even the most
    optimistic of them, plus ``tolerance``, is below ``stop_below`` (%), ``update``
    returns True (``hopeless`` says which rule fired). The default 0 never fires.
    """

    def __init__(
        self,
        final_epoch: float,
        window: int = 3,
        tolerance: float = 0.5,
        min_points: int = 3,
        stop_below: float = 0.0,
    ) -> None:
        if not final_epoch > 0:
            raise ValueError(f"final_epoch must be positive, got {final_epoch}")
        if window < 1 or min_points < 3:
            raise ValueError("window must be >= 1 and min_points >= 3 (the curve has 3 parameters)")
        if tolerance < 0:
            raise ValueError(f"tolerance must be >= 0, got {tolerance}")
        self.final_epoch = final_epoch
        self.window = window
        self.tolerance = tolerance
        self.min_points = min_points
        self.stop_below = stop_below
        self.epochs: list[float] = []
        self.accuracies: list[float] = []
        self.predictions: list[float | None] = []
        """One entry per update: the prediction it made, or None."""
        self.prediction: float | None = None
        """The latest prediction of the accuracy (%) at ``final_epoch``; None until a fit succeeds."""
        self.converged = False
        self.hopeless = False

    def update(self, epoch: float, accuracy: float) -> bool:
        """Record the accuracy (%) measured after ``epoch`` epochs; True when training
        can stop now (the prediction has converged, or the network is hopeless)."""
        if self.epochs and not epoch > self.epochs[-1]:
            raise ValueError(f"epochs must increase: {epoch} after {self.epochs[-1]}")
        self.epochs.append(float(epoch))
        self.accuracies.append(float(accuracy))
        predicted = None
        if len(self.epochs) >= self.min_points:
            params = fit_learning_curve(self.epochs, self.accuracies)
            if params is not None:
                value = float(learning_curve(self.final_epoch, *params))
                predicted = value if math.isfinite(value) else None
        self.predictions.append(predicted)
        if predicted is not None:
            self.prediction = predicted
        recent = self.predictions[-self.window :]
        if len(recent) < self.window or any(p is None for p in recent):
            return False
        median = float(np.median(recent))
        self.converged = all(abs(p - median) <= self.tolerance for p in recent)
        self.hopeless = self.stop_below > 0 and max(recent) + self.tolerance < self.stop_below
        return self.converged or self.hopeless
