"""Figures of a run: the front over all evaluated points, hypervolume per generation,
and how the front moved. pareto.png and the notebook both draw with these.

Axes say what they show: the error axis names the estimator ("estimated error (%),
rwe", or "estimated score, naswot (lower is better)" for a training-free score), the
complexity axes count in millions, latency in milliseconds, and figures carry a title with the search space,
dataset and run folder (``run_labels``).
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Sequence

import matplotlib

matplotlib.use("Agg")  # no display on the machines that run searches
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import FuncFormatter, MaxNLocator  # noqa: E402

from monas.search.evaluation import Evaluation  # noqa: E402
from monas.search.front import non_dominated  # noqa: E402


@dataclass(frozen=True)
class RunLabels:
    """What a run's figures say about it: a title and the error axis's label."""

    title: str = ""
    error: str = "estimated error (%)"


def run_labels(record: dict, run_dir: str) -> RunLabels:
    """The labels of the run whose config.json is ``record``, in folder ``run_dir``.
    Runs of earlier versions, which did not record whether the estimate is an error in
    %, get "estimate" on the error axis."""
    config = record["config"]
    percent = record.get("estimate", {}).get("error_in_percent")
    name = config["estimator"]
    error = {True: f"estimated error (%), {name}", False: f"estimated score, {name} (lower is better)"}.get(
        percent, f"estimate, {name}"
    )
    return RunLabels(f"{config['space']} on {config['dataset']}, run {run_dir}", error)


_COMPLEXITY_LABELS = {"macs": "MACs per image (millions)", "params": "parameters (millions)", "latency": "latency per batch (ms)"}
_IN_MILLIONS = ("macs", "params")


def _label(name: str, labels: RunLabels) -> str:
    return labels.error if name == "error" else _COMPLEXITY_LABELS[name]


def _axes(ax, x: str, y: str, labels: RunLabels) -> None:
    for axis, name in ((ax.xaxis, x), (ax.yaxis, y)):
        if name in _IN_MILLIONS:
            axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v / 1e6:g}"))
    ax.set_xlabel(_label(x, labels))
    ax.set_ylabel(_label(y, labels))
    ax.grid(alpha=0.3)


def _points(evaluations: Sequence[Evaluation], x: str, y: str) -> np.ndarray:
    return np.array([[e.objectives[x], e.objectives[y]] for e in evaluations if e.status == "ok"], dtype=float).reshape(-1, 2)


def _staircase(points: np.ndarray) -> np.ndarray:
    """The non-dominated rows of ``points`` sorted by x (ties kept, one row each)."""
    front = points[non_dominated(points)] if len(points) else points
    return front[np.lexsort((front[:, 1], front[:, 0]))]


def plot_front(ax, evaluations: Sequence[Evaluation], x: str = "macs", y: str = "error", labels: RunLabels = RunLabels(),
               outside: Sequence[Evaluation] = ()) -> None:
    """All evaluated networks as points, the non-dominated ones in (x, y) as a staircase.
    Networks with equal objectives share one marker, annotated with their number, so
    the legend's count matches what is drawn. Networks ``outside`` a search's bounds are
    drawn as crosses and take no part in the front."""
    points = _points(evaluations, x, y)
    kind = "within the bounds" if outside else "evaluated"
    ax.scatter(points[:, 0], points[:, 1], s=12, alpha=0.4, color="tab:gray", label=f"{kind} ({len(points)})")
    if outside:
        beyond = _points(outside, x, y)
        ax.scatter(beyond[:, 0], beyond[:, 1], s=12, alpha=0.4, marker="x", color="tab:orange",
                   label=f"outside the bounds ({len(beyond)})")
    front = _staircase(points)
    counts = Counter(map(tuple, front))
    distinct = np.array(sorted(counts)).reshape(-1, 2)
    shared = f" at {len(distinct)} points" if len(distinct) != len(front) else ""
    ax.step(distinct[:, 0], distinct[:, 1], where="post", color="tab:red", marker="o", label=f"front ({len(front)} networks{shared})")
    for (px, py), n in counts.items():
        if n > 1:
            ax.annotate(f"x{n}", (px, py), xytext=(5, 4), textcoords="offset points", color="tab:red", fontsize="small")
    _axes(ax, x, y, labels)
    ax.legend()


def plot_hypervolume(ax, generations: Sequence[dict]) -> None:
    """Hypervolume of the normalised front after each generation."""
    ax.plot([g["generation"] for g in generations], [g["hypervolume"] for g in generations], marker="o")
    ax.set_xlabel("generation")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("hypervolume (share of the reference box)")
    ax.grid(alpha=0.3)


def plot_front_progress(
    ax, evaluations: Sequence[Evaluation], x: str = "macs", y: str = "error", labels: RunLabels = RunLabels()
) -> None:
    """The (x, y) front of everything evaluated up to each generation, coloured by
    generation. Later fronts are drawn thicker and beneath earlier ones, so a stretch
    where the front did not move shows every generation's colour."""
    ok = [e for e in evaluations if e.status == "ok"]
    last = max((e.generation for e in ok), default=0)
    colours = plt.cm.viridis(np.linspace(0, 1, max(last, 1)))
    for gen in range(1, last + 1):
        front = _staircase(_points([e for e in ok if e.generation <= gen], x, y))
        width = 1.2 + 3.0 * (gen - 1) / max(last - 1, 1)
        ax.step(front[:, 0], front[:, 1], where="post", color=colours[gen - 1], linewidth=width, zorder=2 + last - gen,
                label=f"gen {gen}")
    _axes(ax, x, y, labels)
    ax.legend(fontsize="small", ncol=2)


def pareto_figure(evaluations: Sequence[Evaluation], objectives: Sequence[str], labels: RunLabels = RunLabels(),
                  outside: Sequence[Evaluation] = ()):
    """pareto.png: one panel per complexity objective, error against it, under the
    run's title (``outside``: networks beyond the search's bounds, see ``plot_front``)."""
    complexities = [o for o in objectives if o != "error"]
    figure, axes = plt.subplots(1, len(complexities), figsize=(6 * len(complexities), 4.8), squeeze=False)
    for ax, name in zip(axes[0], complexities):
        plot_front(ax, evaluations, x=name, y="error", labels=labels, outside=outside)
    if labels.title:
        figure.suptitle(labels.title)
    figure.tight_layout()
    return figure
