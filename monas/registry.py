"""Name -> factory registries, so ``--space darts`` and ``--estimator rwe`` are lookups.

A new space or estimator registers itself with a decorator in its own module; the
driver never names concrete classes. A registry imports the modules that fill it (its
``home``) on first use, so that importing a command's module stays cheap; what the
registry holds can also be read from their source without importing them
(``monas.cli.catalog``), which is how ``--help`` lists it.
"""
from __future__ import annotations

import importlib
import pkgutil
from typing import Callable, Generic, TypeVar

T = TypeVar("T")


class UnknownNameError(KeyError):
    """Raised for a name that is not registered; its message lists the known names."""

    def __str__(self) -> str:  # KeyError quotes its message; we want it plain
        return str(self.args[0])


class Registry(Generic[T]):
    """A dict of named factories filled by the ``register`` decorator.

    ``home`` is the module or package whose import registers every factory (a package
    imports all its modules); ``symbol`` is the name the registry has there, which
    ``monas.cli.catalog`` looks for in the source."""

    def __init__(self, kind: str, home: str, symbol: str) -> None:
        self.kind = kind
        self.home = home
        self.symbol = symbol
        self._factories: dict[str, Callable[..., T]] = {}
        self._loaded = False

    def _load(self) -> None:
        """Import ``home`` and, for a package, every module and subpackage in it."""
        if not self._loaded:
            self._loaded = True
            home = importlib.import_module(self.home)
            for module in pkgutil.walk_packages(getattr(home, "__path__", []), prefix=f"{self.home}."):
                importlib.import_module(module.name)

    def register(self, name: str) -> Callable[[Callable[..., T]], Callable[..., T]]:
        """Decorator: make ``factory`` available under ``name``."""

        def decorate(factory: Callable[..., T]) -> Callable[..., T]:
            if name in self._factories:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._factories[name] = factory
            return factory

        return decorate

    def get(self, name: str) -> Callable[..., T]:
        """The factory registered under ``name``; UnknownNameError lists the known ones."""
        self._load()
        try:
            return self._factories[name]
        except KeyError:
            known = ", ".join(sorted(self._factories))
            raise UnknownNameError(f"unknown {self.kind} {name!r} (known: {known})") from None

    def create(self, name: str, **kwargs) -> T:
        """Look ``name`` up and call its factory with ``kwargs``."""
        return self.get(name)(**kwargs)

    def names(self) -> list[str]:
        """Registered names, sorted."""
        self._load()
        return sorted(self._factories)

    def __contains__(self, name: object) -> bool:
        self._load()
        return name in self._factories


SPACES: Registry = Registry("search space", home="search_spaces", symbol="SPACES")
ESTIMATORS: Registry = Registry("estimator", home="monas.estimators", symbol="ESTIMATORS")
DATASETS: Registry = Registry("dataset", home="monas.data", symbol="DATASETS")
ALGORITHMS: Registry = Registry("algorithm", home="monas.search.algorithms", symbol="ALGORITHMS")
