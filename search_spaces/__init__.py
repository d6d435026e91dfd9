"""Search spaces. Each module (or package) here registers its space in ``SPACES``.

``SPACES`` imports every module here on first use, so adding a space is adding one
module: the driver looks spaces up by name. Importing this package alone imports no
space (nor torch).
"""
from monas.registry import SPACES
from search_spaces.base import SearchSpace

__all__ = ["SPACES", "SearchSpace"]
