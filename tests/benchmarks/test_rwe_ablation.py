"""The SGD heads of the RWE ablation learn what is learnable and nothing else; a widened
probe is the same cell with more channels; a run resumes its file and refuses another's."""
import json

import pytest
import torch
from torch import nn

from benchmarks import rwe_ablation
from benchmarks.rwe_ablation import FEATURES, augmented, pooled_features, probe, sgd_error
from benchmarks.rwe_ablation_report import joined_slices
from monas.data import load_dataset
from monas.estimators import ESTIMATORS
from monas.estimators.at_init import seeded_build
from monas.estimators.heads import ridge_error
from search_spaces import SPACES
from tests.conftest import shared_data


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


ARCH = "|nor_conv_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|avg_pool_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"


def test_a_widened_probe_has_twice_the_channels_and_scores_run():
    spec = load_dataset("digits", None).spec
    narrow, wide = probe("bn=eval", ARCH, spec), probe("bn=eval+width=2", ARCH, spec)
    pairs = list(zip((m for m in narrow.modules() if isinstance(m, nn.Conv2d)), (m for m in wide.modules() if isinstance(m, nn.Conv2d))))
    assert pairs and all(w.out_channels == 2 * n.out_channels for n, w in pairs)
    assert not wide.training and not any(p.requires_grad for p in wide.parameters())
    images = torch.randn(60, spec.channels, spec.resolution, spec.resolution, generator=torch.Generator().manual_seed(0))
    labels = torch.arange(60) % 3
    features = {name: pooled_features(net, images) for name, net in (("narrow", narrow), ("wide", wide))}
    for key in FEATURES["stages"]:
        assert features["wide"][key].shape[1] == 2 * features["narrow"][key].shape[1]
    stages = torch.cat([features["wide"][key] for key in FEATURES["stages"]], 1)
    error = ridge_error(stages[:40], labels[:40], stages[40:], labels[40:], 1e-3)
    assert 0 <= error <= 100 and torch.isfinite(stages).all()


@pytest.mark.parametrize("fset, features", [("stages", "stages"), ("stages_gap_std", "stages_mean_std")])
def test_the_rwe_estimator_reads_the_ablations_bn_eval_features(fset, features):
    """The ablation's figures for bn=eval are the rwe estimator's: the same seeded network
    and the same features."""
    spec = load_dataset("digits", None).spec
    rwe = ESTIMATORS.create("rwe", features=features, seed=0)
    net = seeded_build(lambda: SPACES.create("nb201").build(ARCH, spec), rwe.seed).train(False).requires_grad_(False)
    ablated = probe("bn=eval", ARCH, spec)
    for a, b in zip(net.state_dict().values(), ablated.state_dict().values()):
        assert torch.equal(a, b)
    images = torch.randn(20, spec.channels, spec.resolution, spec.resolution, generator=torch.Generator().manual_seed(1))
    pooled = pooled_features(ablated, images)
    torch.testing.assert_close(rwe.extract(net, images), torch.cat([pooled[key] for key in FEATURES[fset]], 1))


def test_a_run_resumes_its_file_one_network_at_a_time_and_refuses_another_runs(tmp_path, capsys):
    data, table, save = shared_data("cifar10"), shared_data("nb201", "nb201_accuracy.csv"), tmp_path / "ablation.json"
    args = ["--n-archs", "20", "--variants", "init=lsuv+bn=eval+cells=1", "--data-dir", str(data), "--table", str(table),
            "--save", str(save)]
    rwe_ablation.main([*args, "--first", "1"])
    first = json.loads(save.read_text())["rows"]
    rwe_ablation.main([*args, "--first", "2"])
    rows = json.loads(save.read_text())["rows"]
    assert len(rows) == 2 and rows[0] == first[0] and rows[0]["arch"] != rows[1]["arch"]
    assert all(0 <= e <= 100 for row in rows for e in row["errors"].values())
    err = capsys.readouterr().err
    assert "1/1 networks" in err and "2/2 networks" in err and "1/2 networks" not in err  # the first was not measured again
    before = save.read_text()
    with pytest.raises(SystemExit, match="was made with"):
        rwe_ablation.main([*args[:-2], "--sgd", "--save", str(save)])
    assert save.read_text() == before


def test_slices_of_a_run_join_into_the_whole_run_and_old_files_still_resume(tmp_path, capsys):
    data, table = shared_data("cifar10"), shared_data("nb201", "nb201_accuracy.csv")
    args = ["--n-archs", "20", "--variants", "init=lsuv+bn=eval+cells=1", "--data-dir", str(data), "--table", str(table)]
    whole, head, tail = tmp_path / "whole.json", tmp_path / "head.json", tmp_path / "tail.json"
    rwe_ablation.main([*args, "--first", "2", "--save", str(whole)])
    rwe_ablation.main([*args, "--first", "1", "--save", str(head)])
    rwe_ablation.main([*args, "--first", "2", "--start", "1", "--save", str(tail)])
    joined = joined_slices(f"{head}+{tail}")["rows"]
    expected = json.loads(whole.read_text())["rows"]
    assert [(r["arch"], r["errors"]) for r in joined] == [(r["arch"], r["errors"]) for r in expected]
    with pytest.raises(SystemExit, match="is not the slice"):
        joined_slices(f"{tail}+{head}")
    # a file written before --start and --sgd-aug-copies existed was made with their defaults
    doc = json.loads(head.read_text())
    old = {k: v for k, v in doc.items() if k not in ("start", "sgd_aug_copies")}
    head.write_text(json.dumps(old))
    capsys.readouterr()
    rwe_ablation.main([*args, "--first", "2", "--save", str(head)])
    err = capsys.readouterr().err
    assert "2/2 networks" in err and "1/2 networks" not in err
    assert joined_slices(f"{head}")["rows"][0] == doc["rows"][0]


def test_sgd_heads_without_augmented_copies_leave_the_augmented_head_out(tmp_path):
    data, table, save = shared_data("cifar10"), shared_data("nb201", "nb201_accuracy.csv"), tmp_path / "sgd.json"
    rwe_ablation.main(["--n-archs", "20", "--first", "1", "--variants", "init=lsuv+bn=eval+cells=1", "--sgd",
                       "--sgd-aug-copies", "0", "--data-dir", str(data), "--table", str(table), "--save", str(save)])
    errors = json.loads(save.read_text())["rows"][0]["errors"]
    assert 0 <= errors["init=lsuv+bn=eval+cells=1|stages|sgd|2000|0.0005"] <= 100
    assert not any("+aug" in key for key in errors)


@pytest.mark.parametrize("argv, message", [
    (["--start", "5", "--first", "5"], "--start must leave networks"),
    (["--start", "-1"], "--start must leave networks"),
    (["--sgd-aug-copies", "-2"], "--sgd-aug-copies must be >= 0"),
])
def test_bad_slices_and_copies_are_refused_before_any_file_is_written(tmp_path, capsys, argv, message):
    save = tmp_path / "never.json"
    with pytest.raises(SystemExit):
        rwe_ablation.main([*argv, "--save", str(save)])
    assert message in capsys.readouterr().err and not save.exists()
