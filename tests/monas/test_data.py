import re

import numpy as np
import pytest
from PIL import Image

from monas.data import (
    DatasetError,
    fit_scoring_sizes,
    load_dataset,
    scoring_data,
    seeded_subset,
    stratified_split,
    stratified_subset,
)
from tests.conftest import shared_data


def test_stratified_split_is_disjoint_balanced_and_seeded():
    labels = np.repeat(np.arange(10), 50)
    train, val = stratified_split(labels, 200, 100, seed=1)
    assert len(set(train) & set(val)) == 0 and len(train) == 200 and len(val) == 100
    assert (np.bincount(labels[train]) == 20).all() and (np.bincount(labels[val]) == 10).all()
    again = stratified_split(labels, 200, 100, seed=1)
    assert (again[0] == train).all() and (again[1] == val).all()
    assert not (stratified_split(labels, 200, 100, seed=2)[0] == train).all()


def test_seeded_subsets_are_sorted_seeded_and_checked():
    kept = seeded_subset(100, 10, seed=3)
    assert len(set(kept)) == 10 and (np.diff(kept) > 0).all() and (kept == seeded_subset(100, 10, seed=3)).all()
    assert (seeded_subset(5, None, seed=3) == np.arange(5)).all()
    with pytest.raises(ValueError, match="must be between 1 and 100, got 101"):
        seeded_subset(100, 101, seed=0)
    labels = np.repeat(np.arange(4), 25)
    assert (np.bincount(labels[stratified_subset(labels, 40, seed=1)]) == 10).all()
    assert (stratified_subset(labels, 500, seed=1) == np.arange(100)).all()


def test_asking_for_more_images_than_the_split_has_is_an_error():
    with pytest.raises(DatasetError, match="only 30"):
        stratified_split(np.zeros(30, dtype=int), 20, 20, seed=0)


def test_digits_train_and_test_splits_are_disjoint_and_offline():
    train, test = load_dataset("digits", None), load_dataset("digits", None, split="test")
    assert len(train) + len(test) == 1797
    assert train.spec.channels == 1 and train.spec.resolution == 16 and train.spec.num_classes == 10
    pixels_train = {bytes(x) for x in train.images(range(len(train))).numpy()}
    pixels_test = [bytes(x) for x in test.images(range(len(test))).numpy()]
    assert sum(p in pixels_train for p in pixels_test) < 10  # a few digits are pixel-identical in the raw set


def test_scoring_data_is_normalised_by_the_training_subset():
    data = scoring_data(load_dataset("digits", None), 500, 200, seed=0)
    assert data.train_x.shape == (500, 1, 16, 16) and data.val_x.shape == (200, 1, 16, 16)
    assert abs(float(data.train_x.mean())) < 1e-4 and abs(float(data.train_x.std()) - 1) < 1e-2


def test_imagefolder_tree_is_read_and_decoded_once(tmp_path):
    rng = np.random.default_rng(0)
    for cls in ("cat", "dog"):
        (tmp_path / "train" / cls).mkdir(parents=True)
        for i in range(3):
            size = (12, 12) if i else (16, 12)  # one odd-sized image: resized and centre-cropped
            Image.fromarray(rng.integers(0, 255, (*size[::-1], 3), dtype=np.uint8)).save(tmp_path / "train" / cls / f"{i}.png")
    images = load_dataset("imagefolder", tmp_path)
    assert images.classes == ["cat", "dog"] and list(images.labels) == [0, 0, 0, 1, 1, 1]
    first = images.images([0, 4])
    assert first.shape == (2, 3, 12, 12)
    (tmp_path / "train" / "cat" / "0.png").unlink()  # served from the cache now
    assert (images.images([0]) == first[:1]).all()


def test_missing_imagefolder_is_a_clear_error(tmp_path):
    with pytest.raises(DatasetError, match="existing folder"):
        load_dataset("imagefolder", tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="not an ImageFolder tree"):
        load_dataset("imagefolder", tmp_path / "empty")


def test_cifar10_image_folder_from_shared_data():
    root = shared_data("cifar10")
    train = load_dataset("cifar10", root)
    assert len(train) == 50_000 and train.spec.resolution == 32 and train.spec.channels == 3
    assert train.classes[0] == "airplane" and np.bincount(train.labels).tolist() == [5000] * 10
    data = scoring_data(train, 100, 50, seed=0)
    assert data.train_x.shape == (100, 3, 32, 32)
    assert len(load_dataset("cifar10", root, split="test")) == 10_000


@pytest.mark.parametrize(
    "sizes, fixed, fitted",
    [
        ((500, 200), set(), (500, 200)),  # fits: unchanged
        ((2000, 1000), set(), (958, 480)),  # defaults shrink in proportion
        ((1000, 1000), {"n_train"}, (1000, 438)),
        ((2000, 400), {"n_val"}, (1038, 400)),
    ],
)
def test_scoring_sizes_fit_the_split(sizes, fixed, fitted):
    assert fit_scoring_sizes(*sizes, 1438, frozenset(fixed)) == fitted


@pytest.mark.parametrize(
    "sizes, fixed, message",
    [
        ((1000, 1000), {"n_train", "n_val"}, "lower -E n_train / -E n_val (together at most 1438)"),
        ((1438, 10), {"n_train"}, "lower -E n_train (at most 1437)"),
    ],
)
def test_explicit_scoring_sizes_that_do_not_fit(sizes, fixed, message):
    with pytest.raises(DatasetError, match=re.escape(message)):
        fit_scoring_sizes(*sizes, 1438, frozenset(fixed))


@pytest.mark.parametrize("content", [b"not an image at all", "truncated"])
def test_a_corrupt_image_is_a_one_line_error_naming_the_file(tmp_path, content):
    for c in ("a", "b"):
        (tmp_path / "train" / c).mkdir(parents=True)
        for i in range(2):
            Image.new("RGB", (8, 8), (i * 50, 0, 0)).save(tmp_path / "train" / c / f"{i}.png")
    bad = tmp_path / "train" / "b" / "1.png"
    if content == "truncated":
        Image.new("RGB", (64, 64), (1, 2, 3)).save(bad)
        bad.write_bytes(bad.read_bytes()[:60])
    else:
        bad.write_bytes(content)
    images = load_dataset("imagefolder", tmp_path)
    with pytest.raises(DatasetError, match=r"1\.png is not a readable image") as info:
        images.images(range(len(images)))
    assert "\n" not in str(info.value)
