"""Figures of a run: the front over all evaluated points, hypervolume per generation,
and how the front moved. pareto.png and the notebook both draw with these."""
from __future__ import annotations

from typing import Sequence

import matplotlib

matplotlib.use("Agg")  # no display on the machines that run searches
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import EngFormatter  # noqa: E402

from monas.evaluation import Evaluation  # noqa: E402
from monas.front import non_dominated  # noqa: E402
from monas.objectives import OBJECTIVES  # noqa: E402


def _label(name: str) -> str:
    unit = OBJECTIVES[name].unit
    return name if unit.lower() in (name, f"{name}s") else f"{name} ({unit})"


def _complexity_axis(ax, x: str, y: str) -> None:
    ax.xaxis.set_major_formatter(EngFormatter())  # 1.2M rather than 1200000
    ax.set_xlabel(_label(x))
    ax.set_ylabel(_label(y))


def plot_front(ax, evaluations: Sequence[Evaluation], x: str = "macs", y: str = "error") -> None:
    """All evaluated networks as points, the non-dominated ones in (x, y) as a staircase."""
    ok = [e for e in evaluations if e.status == "ok"]
    points = np.array([[e.objectives[x], e.objectives[y]] for e in ok]).reshape(-1, 2)
    ax.scatter(points[:, 0], points[:, 1], s=12, alpha=0.4, color="tab:gray", label=f"evaluated ({len(points)})")
    front = points[non_dominated(points)] if len(points) else points
    front = front[np.argsort(front[:, 0])]
    ax.step(front[:, 0], front[:, 1], where="post", color="tab:red", marker="o", label=f"front ({len(front)})")
    _complexity_axis(ax, x, y)
    ax.legend()


def plot_hypervolume(ax, generations: Sequence[dict]) -> None:
    """Hypervolume of the normalised front after each generation."""
    ax.plot([g["generation"] for g in generations], [g["hypervolume"] for g in generations], marker="o")
    ax.set_xlabel("generation")
    ax.set_ylabel("hypervolume (normalised)")


def plot_front_progress(ax, evaluations: Sequence[Evaluation], x: str = "macs", y: str = "error") -> None:
    """The (x, y) front of everything evaluated up to each generation, coloured by generation."""
    ok = [e for e in evaluations if e.status == "ok"]
    last = max((e.generation for e in ok), default=0)
    colours = plt.cm.viridis(np.linspace(0, 1, max(last, 1)))
    for gen in range(1, last + 1):
        points = np.array([[e.objectives[x], e.objectives[y]] for e in ok if e.generation <= gen]).reshape(-1, 2)
        front = points[non_dominated(points)]
        front = front[np.argsort(front[:, 0])]
        ax.step(front[:, 0], front[:, 1], where="post", color=colours[gen - 1], label=f"gen {gen}")
    _complexity_axis(ax, x, y)
    ax.legend(fontsize="small", ncol=2)


def pareto_figure(evaluations: Sequence[Evaluation], objectives: Sequence[str]):
    """pareto.png: one panel per complexity objective, error against it."""
    complexities = [o for o in objectives if o != "error"]
    figure, axes = plt.subplots(1, len(complexities), figsize=(6 * len(complexities), 4.5), squeeze=False)
    for ax, name in zip(axes[0], complexities):
        plot_front(ax, evaluations, x=name, y="error")
    figure.tight_layout()
    return figure
