"""What the two halves of the ``transfer_imagenet`` command share: its name and
``TransferSpec``, which the flag checking (``monas.cli.transfer``, no torch) hands to
the work (``monas.cli.transfer_job``: torch, torchvision, submitit), also through
submitit to jobs on other machines."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from monas.train.config import TrainConfig

if TYPE_CHECKING:
    from torch import nn

PROG = "transfer_imagenet"


@dataclass
class TransferSpec:
    """Everything one architecture's ImageNet training needs (picklable, for submitit):
    ``network`` holds the settings of its space's ImageNet form."""

    name: str
    space: str
    arch: str
    out: str
    data_dir: str
    image_size: int
    network: dict
    train_limit: int | None
    val_limit: int | None
    config: TrainConfig
    device: str
    describe: dict
    resume: bool
    skip_bad_images: bool = False

    def build(self, num_classes: int, auxiliary: bool = False) -> nn.Module:
        """A new network for ``num_classes`` classes at ``image_size`` (imports torch)."""
        from monas.registry import SPACES
        from search_spaces.base import InputSpec

        spec = InputSpec(3, self.image_size, num_classes)
        return SPACES.create(self.space).build_for_training(self.arch, spec, "imagenet", auxiliary, **self.network)
