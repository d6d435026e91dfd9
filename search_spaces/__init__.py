"""Search spaces. Each module (or package) here registers its space in ``SPACES``.

Importing this package imports every module in it, so adding a space is adding one
module: the driver looks spaces up by name.
"""
import importlib
import pkgutil

from monas.registry import SPACES
from search_spaces.base import SearchSpace

for _module in pkgutil.iter_modules(__path__):
    if _module.name not in ("base", "layers"):
        importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["SPACES", "SearchSpace"]
