import dataclasses

import pytest

from monas.cli.common import UsageError
from monas.cli.recipes import RECIPES, default_recipe, recipe_config, recipes_help
from monas.train.config import TrainConfig
from search_spaces import SPACES


def test_darts_recipe_is_what_the_training_commands_always_used():
    assert recipe_config("darts", "cifar") == TrainConfig()
    imagenet = TrainConfig(epochs=250, batch_size=128, lr=0.1, weight_decay=3e-5, label_smoothing=0.1, drop_path=0.0,
                           auxiliary_weight=0.4, grad_clip=5.0, warmup_epochs=5, schedule="linear", crop_padding=0,
                           cutout=0, checkpoint_every_steps=1000, loader_workers=8)
    assert recipe_config("darts", "imagenet") == imagenet


def test_every_recipe_is_valid_and_names_its_source():
    for name, recipe in RECIPES.items():
        assert recipe.source and recipe.forms
        for form, config in recipe.forms.items():
            config.validate()
            assert name in recipes_help(form)


def test_ofa_recipe_follows_once_for_all():
    config = recipe_config("ofa", "imagenet")
    assert (config.momentum, config.weight_decay, config.label_smoothing, config.schedule) == (0.9, 3e-5, 0.1, "cosine")
    assert (config.warmup_epochs, config.auxiliary_weight, config.drop_path) == (5, 0.0, 0.0)


def test_each_space_defaults_to_its_own_recipe():
    assert {space: default_recipe(space) for space in SPACES.names()} == {
        "darts": "darts", "mobilenetv3": "ofa", "nb201": "nb201"}


def test_a_copy_is_returned_and_bad_names_are_refused():
    config = recipe_config("darts", "cifar")
    config.lr = 1.0
    assert RECIPES["darts"].forms["cifar"].lr == 0.025
    assert dataclasses.is_dataclass(config)
    with pytest.raises(UsageError, match="unknown --recipe 'adam'"):
        recipe_config("adam", "cifar")
    with pytest.raises(UsageError, match="the nb201 recipe has no ImageNet form"):
        recipe_config("nb201", "imagenet")
