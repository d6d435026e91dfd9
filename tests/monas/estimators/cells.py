"""Tiny networks and an estimate helper shared by the estimator tests."""
import torch

from monas.data import load_dataset
from search_spaces import SPACES

NB201 = SPACES.create("nb201", channels=4, cells_per_stage=1)
DARTS = SPACES.create("darts", init_channels=4, layers=3)
CONVS = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"
MIXED = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
SKIPS = "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|"
NONES = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"


def estimate(estimator, arch, data, space=NB201):
    """The estimator's estimate of ``arch`` built for the digits input shape, on CPU."""
    spec = load_dataset("digits", None).spec
    return estimator.estimate(arch, lambda: space.build(arch, spec), data, torch.device("cpu"))
