"""Training recipes: named ``TrainConfig`` presets, one per training form, that the
training commands start from (``--recipe``) and their flags override.

Each recipe names its source. Where a source uses something monas's training loop does
not have (Nesterov momentum; no weight decay on batch-norm and bias parameters), the
recipe keeps the rest and says so. A space's default recipe is the one that lists it.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from monas.cli.common import UsageError
from monas.train.config import TrainConfig
from search_spaces.base import FORMS


@dataclass(frozen=True)
class Recipe:
    """A published recipe: its TrainConfig per training form, its source, and the
    spaces whose default it is."""

    source: str
    forms: dict[str, TrainConfig]
    spaces: tuple[str, ...] = ()


# Settings common to the recipes that have no auxiliary head, drop-path or clipping.
_PLAIN = {"drop_path": 0.0, "auxiliary_weight": 0.0, "grad_clip": 0.0, "cutout": 0}
# ImageFolder data: the crop is the transform's random-resized one; more loader workers.
_IMAGENET = {"crop_padding": 0, "cutout": 0, "checkpoint_every_steps": 1000, "loader_workers": 8}
_OFA = {"epochs": 120, "batch_size": 64, "lr": 0.03, "weight_decay": 3e-5, "label_smoothing": 0.1, "warmup_epochs": 5.0,
        "schedule": "cosine", **_PLAIN}

RECIPES = {
    "darts": Recipe(
        source="DARTS (Liu et al., ICLR 2019; github.com/quark0/darts cnn/train.py, train_imagenet.py). CIFAR: SGD "
        "momentum 0.9, lr 0.025 cosine, weight decay 3e-4, batch 96, 600 epochs, cutout 16, auxiliary 0.4, drop-path "
        "0.2, clipping at 5. ImageNet: label smoothing 0.1, weight decay 3e-5, auxiliary 0.4, clipping at 5, 250 "
        "epochs, batch 128, lr 0.1, with PC-DARTS's 5-epoch warm-up then linear decay in place of DARTS's 0.97 steps",
        forms={
            "cifar": TrainConfig(),
            "imagenet": TrainConfig(epochs=250, batch_size=128, lr=0.1, weight_decay=3e-5, label_smoothing=0.1,
                                    drop_path=0.0, warmup_epochs=5, schedule="linear", **_IMAGENET),
        },
        spaces=("darts",),
    ),
    "ofa": Recipe(
        source="Once-for-All (Cai et al., ICLR 2020; github.com/mit-han-lab/once-for-all train_ofa_net.py): SGD "
        "momentum 0.9, weight decay 3e-5, label smoothing 0.1, 5 warm-up epochs then cosine, 120 epochs, batch 64 "
        "at lr 0.03 per process (OFA multiplies the lr by the number of processes: give --lr), the network's "
        "dropout 0.1; OFA's Nesterov momentum and its exemption of batch-norm and bias from weight decay are not "
        "available. CIFAR: the same with crop-and-flip augmentation",
        forms={"cifar": TrainConfig(**_OFA), "imagenet": TrainConfig(**{**_OFA, **_IMAGENET})},
        spaces=("mobilenetv3",),
    ),
    "nb201": Recipe(
        source="NAS-Bench-201 (Dong & Yang, ICLR 2020; github.com/D-X-Y/AutoDL-Projects "
        "configs/nas-benchmark/hyper-opts/200E.config): SGD momentum 0.9 (Nesterov there), lr 0.1 cosine to 0, weight "
        "decay 5e-4, batch 256, 200 epochs, crop-and-flip augmentation; CIFAR form only",
        forms={"cifar": TrainConfig(epochs=200, batch_size=256, lr=0.1, weight_decay=5e-4, **_PLAIN)},
        spaces=("nb201",),
    ),
}


def default_recipe(space: str) -> str:
    """The name of the recipe that lists ``space``; darts's for a space none lists."""
    return next((name for name, recipe in RECIPES.items() if space in recipe.spaces), "darts")


def recipe_config(name: str, form: str) -> TrainConfig:
    """A copy of recipe ``name``'s TrainConfig for ``form``; UsageError for an unknown
    recipe or a form it does not define."""
    if name not in RECIPES:
        raise UsageError(f"unknown --recipe {name!r} (known: {', '.join(RECIPES)})")
    config = RECIPES[name].forms.get(form)
    if config is None:
        raise UsageError(f"the {name} recipe has no {FORMS[form]} form")
    return dataclasses.replace(config)


def recipes_help(form: str) -> str:
    """The ``--recipe`` help: every recipe with the ``form`` and its source."""
    known = [f"{name} ({', '.join(r.spaces)}'s default): {r.source}" for name, r in RECIPES.items() if form in r.forms]
    return (f"training recipe that the flags below override; default: the space's own. {FORMS[form]} recipes: "
            + "; ".join(known))
