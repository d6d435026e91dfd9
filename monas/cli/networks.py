"""Which networks the training commands (``train_cifar``, ``transfer_imagenet``,
``run_hpo``) train, shared by the three: the architectures (``--run DIR --pick SPEC``
from a search in any space, whose config.json names the space; ``--space S --arch
STRING``; or DARTS's ``--genotype STRING``, short for ``--space darts --arch``), the
recipe (``--recipe``, ``monas.cli.recipes``) and the settings of the space's training
form (``--net KEY=VALUE``; DARTS's ``--init-channels`` and ``--layers`` are short for
``--net init_channels=`` and ``--net layers=``).

Networks are built only through the space registry (``SearchSpace.build_for_training``).
"""
from __future__ import annotations

import argparse
import math
from dataclasses import dataclass

from monas.cli.catalog import describe
from monas.cli.common import UsageError, check_name, key_values, known_names
from monas.cli.recipes import default_recipe, recipe_config, recipes_help
from monas.registry import SPACES
from monas.search.picks import Pick, PickError, choose, read_front, table
from monas.train.config import TrainConfig
from search_spaces.base import FORMS

MAX_LAYERS = 1_000
# Upper bounds of depth settings, so that a typo cannot make a network too deep to build;
# widths are bounded by the parameter count (``monas.cli.training.check_network_size``).
SETTING_LIMITS = {"layers": MAX_LAYERS, "cells_per_stage": MAX_LAYERS}
# What a run.json or config.json written before other spaces could train implies.
BEFORE_SPACES = {"space": "darts", "recipe": "darts"}


@dataclass(frozen=True)
class Source:
    """The architectures to train: their space, and (folder name, pick) per
    architecture (``member<i>`` for Pareto picks of ``run``, ``genotype<k>`` for
    ``--genotype`` strings, ``arch<k>`` for ``--arch`` strings)."""

    space: str
    chosen: list[tuple[str, Pick]]
    run: str | None = None

    def listing(self) -> str:
        """What ``--list`` prints: the picks' table for a run, else the strings."""
        return table([pick for _, pick in self.chosen]) if self.run else "\n".join(p.arch for _, p in self.chosen)


def add_source_flags(p: argparse.ArgumentParser) -> None:
    """``--run DIR --pick SPEC``, ``--space S --arch STRING``, ``--genotype``, ``--list``."""
    p.add_argument("--run", "--run-dir", dest="run", metavar="DIR",
                   help="a search's run directory (any space) whose Pareto members to train (--run-dir: the same, "
                   "for torchrun, which takes --run for its own --run-path)")
    p.add_argument("--pick", default="knee", help="which members of --run: knee, even:N (evenly spaced MACs), "
                   "index:I,J,... or all (default knee)")
    p.add_argument("--space", help=f"the space of --arch: {', '.join(known_names(SPACES))}")
    p.add_argument("--arch", action="append", default=[], metavar="STRING",
                   help="an architecture string of --space to train; repeatable")
    p.add_argument("--genotype", action="append", default=[], metavar="STRING",
                   help="a DARTS Genotype(...) string to train (short for --space darts --arch); repeatable")
    p.add_argument("--list", action="store_true", help="print the chosen architectures (a table for --run) and exit")


def source_from_args(args: argparse.Namespace) -> Source:
    """The architectures the source flags choose, each checked by its space
    (``check_arch``; imports the space, so torch)."""
    if sum(map(bool, (args.run, args.arch, args.genotype))) != 1:
        raise UsageError("give either --genotype STRING, --space S --arch STRING (repeatable) or --run DIR [--pick SPEC]")
    if args.space is not None:
        check_name(SPACES, args.space)
    if args.run:
        members, config = read_front(args.run, space=None)
        space = config.get("space")
        if args.space is not None and args.space != space:
            raise UsageError(f"{args.run} searched the {space!r} space, not {args.space!r}; drop --space")
        try:
            chosen = [(f"member{p.index}", p) for p in choose(members, args.pick)]
        except PickError as exc:
            raise UsageError(f"--pick: {exc}") from None
    elif args.genotype:
        if args.space not in (None, "darts"):
            raise UsageError(f"--genotype is a darts architecture; give --arch with --space {args.space}")
        space, chosen = "darts", [(f"genotype{k}", Pick(k, text, {})) for k, text in enumerate(args.genotype)]
    else:
        if args.space is None:
            raise UsageError(f"--arch needs --space ({', '.join(known_names(SPACES))})")
        space, chosen = args.space, [(f"arch{k}", Pick(k, text, {})) for k, text in enumerate(args.arch)]
    check_name(SPACES, space)
    checker = SPACES.create(space)
    for _, pick in chosen:
        checker.check_arch(pick.arch)
    return Source(space, chosen, args.run)


def add_network_flags(p: argparse.ArgumentParser, form: str, darts_size: str) -> None:
    """``--recipe``, ``--net KEY=VALUE`` and DARTS's ``--init-channels``/``--layers``
    (``darts_size``: what their defaults are, for the help)."""
    p.add_argument("--recipe", help=recipes_help(form))
    forms = [f"{e.name}: {' '.join(f'{k}={v}' for k, v in e.training_forms[form].items())}"
             for e in describe(SPACES) if form in e.training_forms]
    p.add_argument("--net", action="append", default=[], metavar="KEY=VALUE",
                   help=f"a setting of the space's {FORMS[form]} network; repeatable. Defaults: {'; '.join(forms)}")
    p.add_argument("--init-channels", type=int, help=f"darts: channels of the first cells ({darts_size})")
    p.add_argument("--layers", type=int, help="darts: cells (see --init-channels)")


def recipe_from_args(args: argparse.Namespace, space: str, form: str) -> tuple[str, TrainConfig]:
    """The name and ``form`` TrainConfig of ``--recipe``, or of the space's own recipe."""
    name = args.recipe or default_recipe(space)
    return name, recipe_config(name, form)


def network_settings(args: argparse.Namespace, space: str, form: str, defaults: dict | None = None) -> dict:
    """The settings of ``space``'s ``form`` network: its defaults, then ``defaults`` (a
    command's own, for the settings the space has), then ``--init-channels``/``--layers``,
    then ``--net``. UsageError for a form the space lacks, an unknown setting or a value
    that is not a finite number of the setting's type within SETTING_LIMITS."""
    built = SPACES.create(space)
    base = built.training_settings(form)
    given = {key: value for key, value in (defaults or {}).items() if key in base}
    for key in ("init_channels", "layers"):
        if getattr(args, key) is not None:
            given[key] = getattr(args, key)
    if "init_channels" in given or "layers" in given:
        check_cells(given.get("init_channels", 2), given.get("layers", 3))
    raw = key_values(args.net, "--net")
    built.training_settings(form, **raw)  # an unknown name is refused first, naming the known ones
    for key, text in raw.items():
        kind = type(base[key])
        try:
            given[key] = kind(text)
        except ValueError:
            raise UsageError(f"--net {key}={text!r} is not a valid {kind.__name__}") from None
    settings = built.training_settings(form, **given)
    for key, value in settings.items():
        if not math.isfinite(value) or value < 0 or value > SETTING_LIMITS.get(key, math.inf):
            raise UsageError(f"--net {key}={value} must be a finite non-negative number"
                             + (f" of at most {SETTING_LIMITS[key]}" if key in SETTING_LIMITS else ""))
    return settings


def check_cells(init_channels: int, layers: int) -> None:
    """UsageError unless DARTS's width and depth flags are in range."""
    if init_channels < 2 or init_channels % 2 or not 3 <= layers <= MAX_LAYERS:
        raise UsageError(f"--init-channels must be an even number >= 2 and --layers between 3 and {MAX_LAYERS}")
