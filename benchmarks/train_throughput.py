"""Training images per second of train_cifar's loop (``monas.train.loop.train``) against a bare
PyTorch loop, same model, data, batch and device, in the same run.

The bare loop is what one writes by hand: a shuffling DataLoader over the same
augmented CIFAR-10 images, SGD, the cross-entropy plus 0.4 x the auxiliary head's,
gradient clipping, and (on CUDA, unless --no-amp) float16 autocast with a gradient
scaler and channels-last tensors. Both start from the same weights, run ``--steps``
steps (one epoch of ``batch x steps`` images) and end with one evaluation of the same
96 test images; each is timed end to end, data-loader start-up included. The runs
alternate ``--repeats`` times and the medians are compared.

    python benchmarks/train_throughput.py [--steps 20] [--init-channels 16 --layers 8] [--device auto]

Ends with ``train_over_bare=<ratio>`` (images/s of train_cifar's loop / the bare loop's).
"""
from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from monas.train.augmentation import TensorImages, small_image_eval_transform, small_image_train_transform  # noqa: E402
from monas.data import load_dataset  # noqa: E402
from monas.device import resolve_device  # noqa: E402
from monas.train.loop import TrainConfig, evaluate, train  # noqa: E402
from search_spaces.darts.genotypes import DARTS_V2, parse_genotype  # noqa: E402
from search_spaces.darts.model import NetworkCIFAR  # noqa: E402

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "cifar10"
N_TEST = 96


def bare_loop(net: nn.Module, train_set, test_set, config: TrainConfig, device: torch.device) -> float:
    """Seconds for one epoch of a hand-written loop and one evaluation."""
    start = time.perf_counter()
    amp = config.amp and device.type == "cuda"
    memory_format = torch.channels_last if config.channels_last and device.type == "cuda" else torch.contiguous_format
    net = net.to(device, memory_format=memory_format)
    net.drop_path_prob = config.drop_path / 2
    optimizer = torch.optim.SGD(net.parameters(), lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)
    scaler = torch.amp.GradScaler("cuda", enabled=amp)
    options = {"num_workers": config.loader_workers, "pin_memory": device.type == "cuda"}
    loader = DataLoader(train_set, batch_size=config.batch_size, shuffle=True, drop_last=True, **options)
    net.train()
    for images, labels in loader:
        images = images.to(device, non_blocking=True, memory_format=memory_format)
        labels = labels.to(device, non_blocking=True)
        with torch.autocast(device.type, dtype=torch.float16, enabled=amp):
            logits, auxiliary = net(images)
            loss = F.cross_entropy(logits, labels) + config.auxiliary_weight * F.cross_entropy(auxiliary, labels)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)
        nn.utils.clip_grad_norm_(net.parameters(), config.grad_clip)
        scaler.step(optimizer)
        scaler.update()
    evaluate(net, DataLoader(test_set, batch_size=config.eval_batch_size, **options), device, amp, memory_format)
    return time.perf_counter() - start


def monas_loop(net: nn.Module, train_data, test_data, config: TrainConfig, device: torch.device) -> float:
    """Seconds for the same epoch and evaluation through monas.train.loop.train."""
    start = time.perf_counter()
    train(net, train_data, test_data, config, device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-dir", default=str(DEFAULT_DATA))
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=96)
    p.add_argument("--init-channels", type=int, default=16)
    p.add_argument("--layers", type=int, default=8)
    p.add_argument("--workers", type=int, default=2, help="data-loader workers of both loops")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--device", default="auto")
    p.add_argument("--no-amp", dest="amp", action="store_false", help="float32 and contiguous tensors on CUDA")
    args = p.parse_args()
    device = resolve_device(args.device)

    images = load_dataset("cifar10", args.data_dir, "train")
    tests = load_dataset("cifar10", args.data_dir, "test")
    n = args.batch_size * args.steps
    train_data = (images.images(range(n)), torch.from_numpy(images.labels[:n]))
    test_data = (tests.images(range(N_TEST)), torch.from_numpy(tests.labels[:N_TEST]))
    config = TrainConfig(epochs=1, batch_size=args.batch_size, eval_every=1.0, loader_workers=args.workers,
                         amp=args.amp, channels_last=args.amp)
    # The bare loop gets the augmentation and normalisation train() derives from the same images.
    pixels = train_data[0].float() / 255
    mean, std = pixels.mean(dim=(0, 2, 3)).tolist(), pixels.std(dim=(0, 2, 3)).tolist()
    train_set = TensorImages(*train_data, small_image_train_transform(
        32, mean, std, flip=config.flip, crop_padding=config.crop_padding, cutout=config.cutout, randaugment=0))
    test_set = TensorImages(*test_data, small_image_eval_transform(mean, std))

    torch.manual_seed(0)
    model = NetworkCIFAR(parse_genotype(DARTS_V2), args.init_channels, args.layers, 10, auxiliary=True)
    seconds = {"bare": [], "train_cifar": []}
    for _ in range(args.repeats):
        seconds["bare"].append(bare_loop(copy.deepcopy(model), train_set, test_set, config, device))
        seconds["train_cifar"].append(monas_loop(copy.deepcopy(model), train_data, test_data, config, device))
    rate = {k: n / statistics.median(v) for k, v in seconds.items()}
    print(f"device={device} init_channels={args.init_channels} layers={args.layers} batch={args.batch_size} "
          f"steps={args.steps} amp_channels_last={args.amp and device.type == 'cuda'} workers={args.workers}")
    for name, values in seconds.items():
        print(f"{name}: {rate[name]:.1f} images/s (median of {', '.join(f'{s:.2f}' for s in values)} s)")
    print(f"train_over_bare={rate['train_cifar'] / rate['bare']:.3f}")


if __name__ == "__main__":
    main()
