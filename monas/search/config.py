"""``SearchConfig``: everything that determines a search, in a module that imports
nothing heavy (the commands parse and check their input before importing torch)."""
from __future__ import annotations

from dataclasses import dataclass, field

from monas.search.objectives import measured_quantities, parse_objectives

DEFAULT_ESTIMATOR_WHY = (
    "a rank sum of MeCo, MACs, SynFlow on each cell and EPE-NAS against 100 reference networks of the space, the best ranking of trained "
    "accuracy measured on NAS-Bench-201 and DARTS-space networks (README: Estimators)"
)


@dataclass
class SearchConfig:
    """Everything that determines a search; recorded in config.json."""

    out: str
    space: str = "darts"
    space_options: dict = field(default_factory=dict)
    dataset: str = "cifar10"
    data_dir: str | None = None
    pop_size: int = 20
    generations: int = 10
    algorithm: str = "nsga2"
    crossover: float | None = None
    """Uniform crossover probability; None: the space's (``SearchSpace.crossover``)."""
    seed: int = 0
    objectives: str = "error,macs"
    bounds: dict = field(default_factory=dict)
    latency_device: str | None = None
    latency_batch: int = 1
    estimator: str = "ensemble"
    estimator_options: dict = field(default_factory=dict)
    device: str = "auto"
    workers: int = 1
    scheduler: str | None = None
    slurm: dict | None = None

    def objective_names(self) -> list[str]:
        """Names of the minimised objectives, in order."""
        return [o.name for o in parse_objectives(self.objectives)]

    def measured(self) -> list[str]:
        """The objectives, then the other bounded quantities (``bounds``: name -> upper
        bound, e.g. ``{"macs": 600_000_000}``): what every network must have measured."""
        return measured_quantities(self.objectives, self.bounds)
