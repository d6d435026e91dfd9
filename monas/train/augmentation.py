"""Training-time data augmentation (torchvision transforms v2) and the datasets that
apply it reproducibly.

Per-image transforms run in the data-loader workers; each image is augmented with the
CPU random generator seeded by a per-(epoch, image) seed that the sampler hands out
(``SeededSamples``), so an image's augmentation does not depend on the number of
workers or on where a run was resumed. MixUp and CutMix mix whole batches on the
training device (``BatchMixer``).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch.utils.data import Dataset
from torchvision.transforms import v2

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
EVAL_CROP_RATIO = 0.875  # resize to size / 0.875, then centre-crop: the usual ImageNet evaluation


class Cutout(torch.nn.Module):
    """Zero a ``size`` x ``size`` square (clipped at the border) centred on a uniformly
    drawn pixel of a (C, H, W) tensor, as in DeVries & Taylor (2017) and DARTS."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        h, w = image.shape[-2:]
        y, x = int(torch.randint(h, ())), int(torch.randint(w, ()))
        half = self.size // 2
        image = image.clone()
        image[..., max(0, y - half) : min(h, y + half), max(0, x - half) : min(w, x + half)] = 0
        return image


def _augmentations(flip: bool, randaugment: int) -> list:
    out = [v2.RandomHorizontalFlip()] if flip else []
    if randaugment:
        out.append(v2.RandAugment(magnitude=randaugment))
    return out


def _to_normalised(mean: Sequence[float], std: Sequence[float]) -> list:
    return [v2.ToImage(), v2.ToDtype(torch.float32, scale=True), v2.Normalize(list(mean), list(std)), v2.ToPureTensor()]


def small_image_train_transform(
    resolution: int,
    mean: Sequence[float],
    std: Sequence[float],
    *,
    flip: bool,
    crop_padding: int,
    cutout: int,
    randaugment: int,
) -> Callable:
    """CIFAR-style training transform of a uint8 (C, H, W) image: random crop after
    zero-padding by ``crop_padding`` (0: none), horizontal flip, RandAugment of magnitude
    ``randaugment`` (0: none), scaling to [0, 1], normalisation, Cutout of ``cutout``
    pixels (0: none)."""
    ops = [v2.RandomCrop(resolution, padding=crop_padding)] if crop_padding else []
    ops += _augmentations(flip, randaugment) + _to_normalised(mean, std)
    if cutout:
        ops.append(Cutout(cutout))
    return v2.Compose(ops)


def small_image_eval_transform(mean: Sequence[float], std: Sequence[float]) -> Callable:
    """Scaling to [0, 1] and normalisation of a uint8 (C, H, W) image."""
    return v2.Compose(_to_normalised(mean, std))


def imagenet_train_transform(image_size: int, *, flip: bool, cutout: int, randaugment: int) -> Callable:
    """The DARTS ImageNet training transform of a PIL image: random-resized crop to
    ``image_size``, horizontal flip, colour jitter (brightness, contrast, saturation 0.4,
    hue 0.2), optional RandAugment, normalisation by the ImageNet statistics, optional Cutout."""
    ops = [v2.RandomResizedCrop(image_size, antialias=True)] + _augmentations(flip, randaugment)
    ops += [v2.ColorJitter(0.4, 0.4, 0.4, 0.2)] + _to_normalised(IMAGENET_MEAN, IMAGENET_STD)
    if cutout:
        ops.append(Cutout(cutout))
    return v2.Compose(ops)


def imagenet_eval_transform(image_size: int) -> Callable:
    """Resize the short side to ``image_size / 0.875``, centre-crop ``image_size``, normalise."""
    resize = round(image_size / EVAL_CROP_RATIO)
    return v2.Compose([v2.Resize(resize, antialias=True), v2.CenterCrop(image_size)] + _to_normalised(IMAGENET_MEAN, IMAGENET_STD))


class BatchMixer:
    """MixUp (``mixup`` = Beta alpha) and/or CutMix (``cutmix`` = alpha) of a batch; with
    both, each batch gets one of them at random. Returns the mixed images and soft
    targets (N, num_classes); with neither, the batch and its labels unchanged."""

    def __init__(self, mixup: float, cutmix: float, num_classes: int) -> None:
        ops = []
        if mixup > 0:
            ops.append(v2.MixUp(alpha=mixup, num_classes=num_classes))
        if cutmix > 0:
            ops.append(v2.CutMix(alpha=cutmix, num_classes=num_classes))
        self._op = None if not ops else ops[0] if len(ops) == 1 else v2.RandomChoice(ops)

    def __call__(self, images: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self._op is None:
            return images, labels
        return self._op(images, labels)


class TensorImages(Dataset):
    """uint8 images (N, C, H, W) with labels, each passed through ``transform``."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, transform: Callable) -> None:
        if len(images) != len(labels):
            raise ValueError(f"{len(images)} images but {len(labels)} labels")
        self.images = images
        self.labels = torch.as_tensor(labels, dtype=torch.int64)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.transform(self.images[index]), int(self.labels[index])


class SeededSamples(Dataset):
    """``dataset`` indexed by ``(index, seed)`` pairs: the item is produced with the CPU
    random generator seeded by ``seed`` (and that generator's state restored after), so
    random transforms give the same result for the same pair wherever it is computed."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: tuple[int, int]):
        index, seed = key
        with torch.random.fork_rng(devices=[]):
            torch.random.default_generator.manual_seed(seed)
            return self.dataset[index]
