"""What a training run reads: its two datasets, and loaders whose order a checkpoint can
resume part-way through an epoch (``ResumableSampler``; every image's augmentation
seeded by the epoch and the image, ``monas.train.augmentation.SeededSamples``)."""
from __future__ import annotations

import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from monas.train.augmentation import (
    SeededSamples,
    TensorImages,
    small_image_eval_transform,
    small_image_train_transform,
)
from monas.train.config import TrainConfig

TrainData = Dataset | tuple[torch.Tensor, torch.Tensor]


class ResumableSampler(DistributedSampler):
    """DistributedSampler (reshuffled per epoch from ``seed``; each process its share)
    that can start an epoch part-way and yields ``(index, seed)`` pairs for
    ``SeededSamples``: each image's augmentation seed depends on the epoch and the image."""

    def __init__(self, dataset: Dataset, num_replicas: int, rank: int, seed: int) -> None:
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=True, seed=seed)
        self.start = 0

    def set_position(self, epoch: int, start: int) -> None:
        """Begin epoch ``epoch`` at this process's ``start``-th sample."""
        self.set_epoch(epoch)
        self.start = start

    def __iter__(self):
        for index in list(super().__iter__())[self.start :]:
            yield index, ((self.seed * 1_000_003 + self.epoch) * 10_000_019 + index) % 2**63

    def __len__(self) -> int:
        return self.num_samples - self.start


def datasets(train_data: TrainData, test_data: TrainData, config: TrainConfig) -> tuple[Dataset, Dataset]:
    """The training and test datasets: given ones as they are, or uint8 image tensors
    wrapped with ``config``'s augmentation (training) and both normalised by the
    training images' channel statistics. TypeError for a mix or non-uint8 images."""
    if isinstance(train_data, Dataset) != isinstance(test_data, Dataset):
        raise TypeError("train_data and test_data must both be datasets or both (images, labels) tensors")
    if isinstance(train_data, Dataset):
        return train_data, test_data
    images, labels = train_data
    if images.dtype != torch.uint8 or images.ndim != 4:
        raise TypeError("image tensors must be uint8 (N, C, H, W)")
    pixels = images.float().div_(255.0)
    mean = pixels.mean(dim=(0, 2, 3)).tolist()
    std = pixels.std(dim=(0, 2, 3)).clamp_min(1e-6).tolist()
    augment = small_image_train_transform(images.shape[-1], mean, std, flip=config.flip, crop_padding=config.crop_padding,
                                          cutout=config.cutout, randaugment=config.randaugment)
    return TensorImages(images, labels, augment), TensorImages(*test_data, small_image_eval_transform(mean, std))


def loaders(train_set: Dataset, test_set: Dataset, config: TrainConfig, rank: int, world: int,
            pin_memory: bool) -> tuple[ResumableSampler, DataLoader, DataLoader]:
    """This process's sampler and loader of ``train_set`` (full batches only) and loader
    of its share of ``test_set``. The loaders get generators of their own, so iterating
    them draws nothing from the global generator the training uses. ValueError when a process's share of the
    training images is smaller than a batch."""
    sampler = ResumableSampler(train_set, world, rank, config.seed)
    if sampler.num_samples < config.batch_size:
        raise ValueError(f"{sampler.num_samples} training images per process are fewer than a batch of {config.batch_size}")
    options = {"num_workers": config.loader_workers, "pin_memory": pin_memory}
    train_loader = DataLoader(SeededSamples(train_set), batch_size=config.batch_size, sampler=sampler, drop_last=True,
                              generator=torch.Generator(), **options)
    test_loader = DataLoader(test_set, batch_size=config.eval_batch_size, sampler=range(rank, len(test_set), world),
                             generator=torch.Generator(), **options)
    return sampler, train_loader, test_loader
