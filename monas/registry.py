"""Name -> factory registries, so ``--space darts`` and ``--estimator rwe`` are lookups.

A new space or estimator registers itself with a decorator in its own module; the
driver never names concrete classes.
"""
from __future__ import annotations

from typing import Callable, Generic, TypeVar

T = TypeVar("T")


class UnknownNameError(KeyError):
    """Raised for a name that is not registered; its message lists the known names."""

    def __str__(self) -> str:  # KeyError quotes its message; we want it plain
        return str(self.args[0])


class Registry(Generic[T]):
    """A dict of named factories filled by the ``register`` decorator."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._factories: dict[str, Callable[..., T]] = {}

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
        return sorted(self._factories)

    def __contains__(self, name: object) -> bool:
        return name in self._factories


SPACES: Registry = Registry("search space")
ESTIMATORS: Registry = Registry("estimator")
DATASETS: Registry = Registry("dataset")
