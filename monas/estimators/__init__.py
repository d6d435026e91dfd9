"""Accuracy estimators. Each module here registers its estimators in ``ESTIMATORS``;
importing this package imports them all, so adding an estimator is adding one module."""
import importlib
import pkgutil

from monas.estimators.base import Estimator, EstimationError
from monas.registry import ESTIMATORS

for _module in pkgutil.iter_modules(__path__):
    if _module.name not in ("base", "heads"):
        importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["ESTIMATORS", "Estimator", "EstimationError"]
