"""Datasets as decoded tensors, the train/validation subsets used for scoring, and the
seeded subsets the training commands take (``seeded_subset``, ``stratified_subset``).

Every dataset is a ``LabelledImages``: labels known up front, images decoded on first
use and kept in memory, so a search decodes each image it uses once, not per network.
Only the training split is read during a search; ``split="test"`` exists for training
scripts and is never used by the estimators.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from monas.errors import DatasetError
from monas.registry import DATASETS
from search_spaces.base import InputSpec


class LabelledImages:
    """Images with integer labels; decoding is lazy and cached per index."""

    def __init__(
        self,
        labels: Sequence[int],
        classes: Sequence[str],
        channels: int,
        resolution: int,
        decode: Callable[[int], np.ndarray],
    ) -> None:
        self.labels = np.asarray(labels, dtype=np.int64)
        self.classes = list(classes)
        self.channels = channels
        self.resolution = resolution
        self._decode = decode
        self._cache: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.labels)

    def images(self, indices: Sequence[int]) -> torch.Tensor:
        """uint8 tensor (N, C, H, W) of the given images, decoding each at most once."""
        out = np.empty((len(indices), self.channels, self.resolution, self.resolution), dtype=np.uint8)
        for k, i in enumerate(indices):
            i = int(i)
            if i not in self._cache:
                self._cache[i] = self._decode(i)
            out[k] = self._cache[i]
        return torch.from_numpy(out)

    @property
    def spec(self) -> InputSpec:
        """The input shape and number of classes networks are built for."""
        return InputSpec(self.channels, self.resolution, len(self.classes))


@dataclass
class ScoringData:
    """Normalised float tensors of two disjoint, class-stratified subsets of a training
    split: ``train`` fits an estimator's head, ``val`` scores it."""

    train_x: torch.Tensor
    train_y: torch.Tensor
    val_x: torch.Tensor
    val_y: torch.Tensor
    num_classes: int

    def to(self, device: torch.device | str) -> "ScoringData":
        """A copy on ``device``."""
        return ScoringData(
            self.train_x.to(device), self.train_y.to(device), self.val_x.to(device), self.val_y.to(device), self.num_classes
        )


def stratified_split(labels: np.ndarray, n_train: int, n_val: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Disjoint index sets of sizes ``n_train`` and ``n_val`` with class shares as in
    ``labels`` (round-robin over shuffled classes), drawn with ``seed``."""
    if n_train < 1 or n_val < 1:
        raise DatasetError("scoring subsets need at least one training and one validation image")
    if n_train + n_val > len(labels):
        raise DatasetError(
            f"asked for {n_train} + {n_val} scoring images but the training split has only {len(labels)}"
        )
    rng = np.random.default_rng(seed)
    per_class = [rng.permutation(np.flatnonzero(labels == c)) for c in np.unique(labels)]
    # Interleave classes so any prefix is (nearly) class-balanced.
    depth = max(len(p) for p in per_class)
    order = np.array([p[d] for d in range(depth) for p in per_class if d < len(p)])
    chosen = order[: n_train + n_val]
    val = rng.permutation(chosen[n_train:])
    return np.sort(chosen[:n_train]), np.sort(val)


def seeded_subset(n: int, size: int | None, seed: int) -> np.ndarray:
    """Sorted indices of ``size`` of ``range(n)`` drawn uniformly with ``seed`` (all of
    them when ``size`` is None); ValueError "must be between 1 and n, got size" (to
    follow the size's name) when it is out of range."""
    if size is None:
        return np.arange(n)
    if not 1 <= size <= n:
        raise ValueError(f"must be between 1 and {n}, got {size}")
    return np.sort(np.random.default_rng(seed).permutation(n)[:size])


def stratified_subset(labels: np.ndarray, size: int, seed: int) -> np.ndarray:
    """Sorted indices of ``size`` images with the class shares of ``labels``, drawn with
    ``seed`` (the first part of ``stratified_split``); all of them when ``size`` is at
    least their number."""
    if size >= len(labels):
        return np.arange(len(labels))
    return stratified_split(labels, size, len(labels) - size, seed)[0]


SIZE_OPTIONS = ("n_train", "n_val")


def fit_scoring_sizes(n_train: int, n_val: int, available: int, fixed: frozenset[str] = frozenset()) -> tuple[int, int]:
    """``(n_train, n_val)`` that fit in a training split of ``available`` images.

    Sizes that fit are kept. Otherwise the sizes not in ``fixed`` (the names of
    ``SIZE_OPTIONS`` the user set) shrink: both in proportion to fill the split when
    neither is fixed, else the other one to what the fixed one leaves. DatasetError,
    naming the ``-E`` options to change, when fixed sizes alone do not fit."""
    if n_train + n_val <= available:
        return n_train, n_val
    sizes = {"n_train": n_train, "n_val": n_val}
    if fixed >= set(SIZE_OPTIONS):
        raise DatasetError(
            f"-E n_train={n_train} -E n_val={n_val} ask for {n_train + n_val} scoring images but the training split "
            f"has only {available}; lower -E n_train / -E n_val (together at most {available})"
        )
    for key in fixed:
        if sizes[key] >= available:
            raise DatasetError(
                f"-E {key}={sizes[key]} leaves no image for the other scoring subset: the training split has only "
                f"{available}; lower -E {key} (at most {available - 1})"
            )
        sizes["n_val" if key == "n_train" else "n_train"] = available - sizes[key]
        return sizes["n_train"], sizes["n_val"]
    fitted_train = max(1, min(available - 1, available * n_train // (n_train + n_val)))
    return fitted_train, available - fitted_train


def scoring_data(images: LabelledImages, n_train: int, n_val: int, seed: int) -> ScoringData:
    """Decode the scoring subsets once and normalise them by the training subset's
    per-channel mean and standard deviation."""
    train_idx, val_idx = stratified_split(images.labels, n_train, n_val, seed)
    train_x = images.images(train_idx).float() / 255.0
    val_x = images.images(val_idx).float() / 255.0
    mean = train_x.mean(dim=(0, 2, 3), keepdim=True)
    std = train_x.std(dim=(0, 2, 3), keepdim=True).clamp_min(1e-6)
    return ScoringData(
        (train_x - mean) / std,
        torch.from_numpy(images.labels[train_idx]),
        (val_x - mean) / std,
        torch.from_numpy(images.labels[val_idx]),
        len(images.classes),
    )


def load_dataset(name: str, data_dir: str | os.PathLike | None, split: str = "train") -> LabelledImages:
    """The ``split`` ("train" or "test") of a registered dataset."""
    if split not in ("train", "test"):
        raise DatasetError(f"unknown split {split!r} (train or test)")
    return DATASETS.create(name, data_dir=None if data_dir is None else Path(data_dir), split=split)


# --- digits: scikit-learn's bundled 8x8 digits, offline ---------------------------------

DIGITS_RESOLUTION = 16
_DIGITS_TEST_SHARE = 0.2


@DATASETS.register("digits")
def digits(data_dir: Path | None, split: str) -> LabelledImages:
    """scikit-learn's 1,797 handwritten digits, upsampled from 8x8 to 16x16, one channel.
    A fixed, stratified 20% is the test split."""
    from sklearn.datasets import load_digits

    raw = load_digits()
    pixels = torch.from_numpy(raw.images.astype(np.float32) / 16.0)[:, None]
    up = torch.nn.functional.interpolate(pixels, size=DIGITS_RESOLUTION, mode="bilinear", align_corners=False)
    images = (up.clamp(0, 1) * 255).round().to(torch.uint8).numpy()
    labels = raw.target.astype(np.int64)
    n_test = int(round(_DIGITS_TEST_SHARE * len(labels)))
    train_idx, test_idx = stratified_split(labels, len(labels) - n_test, n_test, seed=0)
    keep = train_idx if split == "train" else test_idx
    return LabelledImages(labels[keep], [str(d) for d in range(10)], 1, DIGITS_RESOLUTION, lambda i: images[keep[i]])


# --- CIFAR-10: torchvision's binary batches, or an ImageFolder tree ------------------------


CIFAR10_DEFAULT_DIR = Path("data/cifar10")


@DATASETS.register("cifar10")
def cifar10(data_dir: Path | None, split: str) -> LabelledImages:
    """CIFAR-10 from ``data_dir`` (default ``data/cifar10``): an ImageFolder tree
    (``train/<class>/*``, ``test/<class>/*``) when there is one, else torchvision's
    files, downloaded there when missing."""
    return _cifar("CIFAR10", data_dir or CIFAR10_DEFAULT_DIR, split)


@DATASETS.register("cifar100")
def cifar100(data_dir: Path | None, split: str) -> LabelledImages:
    """CIFAR-100 (the 100 fine labels) from ``data_dir`` (default ``data/cifar100``), as
    CIFAR-10: an ImageFolder tree, else torchvision's files, downloaded when missing."""
    return _cifar("CIFAR100", data_dir or Path("data/cifar100"), split)


def _cifar(name: str, data_dir: Path, split: str) -> LabelledImages:
    if (data_dir / split).is_dir():
        return _image_folder(data_dir / split)
    import torchvision

    dataset = getattr(torchvision.datasets, name)
    try:
        ds = dataset(str(data_dir), train=split == "train", download=False)
    except RuntimeError:
        try:
            ds = dataset(str(data_dir), train=split == "train", download=True)
        except Exception as exc:  # noqa: BLE001 - any download failure means the same to the user
            raise DatasetError(
                f"{name.replace('CIFAR', 'CIFAR-')} is not in {data_dir} and could not be downloaded ({type(exc).__name__}); "
                "pass --data-dir with torchvision's extracted files or an ImageFolder tree"
            ) from None
    data = np.ascontiguousarray(ds.data.transpose(0, 3, 1, 2))
    return LabelledImages(ds.targets, ds.classes, 3, 32, lambda i: data[i])


# --- any ImageFolder tree -----------------------------------------------------------------


@DATASETS.register("imagefolder")
def imagefolder(data_dir: Path | None, split: str) -> LabelledImages:
    """An ImageFolder tree: ``data_dir/<split>/<class>/*`` (``val/`` stands in for a
    missing ``test/``), or ``data_dir/<class>/*`` used as the training split."""
    if data_dir is None or not data_dir.is_dir():
        raise DatasetError(f"imagefolder needs --data-dir pointing to an existing folder, got {data_dir}")
    for candidate in ((split,) if split == "train" else ("test", "val")):
        if (data_dir / candidate).is_dir():
            return _image_folder(data_dir / candidate)
    if split == "train":
        return _image_folder(data_dir)
    raise DatasetError(f"{data_dir} has no test/ or val/ folder")


def _image_folder(root: Path) -> LabelledImages:
    import torchvision

    try:
        folder = torchvision.datasets.ImageFolder(str(root))
    except (FileNotFoundError, RuntimeError) as exc:
        raise DatasetError(f"{root} is not an ImageFolder tree: {exc}") from None
    with _open_image(folder.samples[0][0]) as first:
        resolution = min(first.size)
        channels = 1 if first.mode in ("L", "I", "F", "1") else 3
    mode = "L" if channels == 1 else "RGB"

    def decode(i: int) -> np.ndarray:
        path = folder.samples[i][0]
        with _open_image(path) as img:
            try:
                img = img.convert(mode)  # decodes the whole file: a truncated one fails here
            except (OSError, ValueError, SyntaxError) as exc:
                raise DatasetError(f"{path} is not a readable image ({exc}); remove or replace it") from None
            if img.size != (resolution, resolution):
                img = _resize_center_crop(img, resolution)
            arr = np.asarray(img, dtype=np.uint8)
        return arr[None] if channels == 1 else arr.transpose(2, 0, 1)

    return LabelledImages(folder.targets, folder.classes, channels, resolution, decode)


def read_rgb(path: str):
    """The image at ``path`` decoded and converted to RGB (a PIL image): torchvision's
    ImageFolder loader, with a DatasetError naming the file when it is not a readable
    image (corrupt, truncated, not an image, unreadable)."""
    with _open_image(path) as img:
        try:
            return img.convert("RGB")  # decodes the whole file: a truncated one fails here
        except (OSError, ValueError, SyntaxError) as exc:
            raise DatasetError(f"{path} is not a readable image ({exc}); remove or replace it") from None


def _open_image(path: str):
    """The PIL image at ``path``; DatasetError naming the file when it is not an image."""
    from PIL import Image

    try:
        return Image.open(path)
    except (OSError, ValueError, SyntaxError) as exc:  # PIL's UnidentifiedImageError is an OSError
        raise DatasetError(f"{path} is not a readable image ({exc}); remove or replace it") from None


def _resize_center_crop(img, size: int):
    from PIL import Image

    scale = size / min(img.size)
    w, h = max(size, round(img.size[0] * scale)), max(size, round(img.size[1] * scale))
    img = img.resize((w, h), Image.BILINEAR)
    left, top = (w - size) // 2, (h - size) // 2
    return img.crop((left, top, left + size, top + size))
