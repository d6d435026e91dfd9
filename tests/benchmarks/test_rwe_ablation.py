"""The SGD heads of the RWE ablation learn what is learnable and nothing else."""
import torch

from benchmarks.rwe_ablation import augmented, sgd_error


def blobs(n, seed, classes=4, dim=16):
    generator = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % classes
    centres = torch.randn(classes, dim, generator=torch.Generator().manual_seed(0)) * 3
    return centres[y] + torch.randn(n, dim, generator=generator), y


def test_sgd_head_separates_blobs_and_not_random_labels():
    (tr, tr_y), (va, va_y) = blobs(400, 1), blobs(200, 2)
    assert sgd_error([tr], tr_y, va, va_y, seed=0) < 5
    shuffled = tr_y[torch.randperm(len(tr_y), generator=torch.Generator().manual_seed(3))]
    assert sgd_error([tr], shuffled, va, va_y, seed=0) > 50  # chance is 75 %


def test_sgd_head_reads_every_augmented_copy():
    (tr, tr_y), (va, va_y) = blobs(400, 1), blobs(200, 2)
    noise = torch.randn(tr.shape, generator=torch.Generator().manual_seed(4)) * 100
    # One clean copy among noisy ones still teaches the head; only noisy ones do not.
    assert sgd_error([tr, tr + noise], tr_y, va, va_y, seed=0) < sgd_error([tr + noise], tr_y, va, va_y, seed=0)


def test_augmentation_is_seeded_and_keeps_the_shape():
    images = torch.randn(8, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    a, b, c = augmented(images, 0), augmented(images, 0), augmented(images, 1)
    assert a.shape == images.shape and torch.equal(a, b) and not torch.equal(a, c)
