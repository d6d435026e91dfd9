"""Physical channel pruning: a smaller copy of a network, for cheap proxies in tuning.

``torch.nn.utils.prune`` only masks weights, so a masked network costs as much as the
original. Here channels are removed: torch-pruning's DepGraph traces the network,
groups every layer whose channels must be removed together (the convolutions whose
outputs a DARTS cell sums or concatenates, a depthwise convolution and the layer
feeding it, batch-norms, the classifier's input), and slices their weights, so MACs,
parameters and time really drop.

One trap in DARTS cells: a cell whose nodes never read one of its inputs still runs
that input's preprocessing, whose result is thrown away. DepGraph traces only what
reaches the network's output, so such a layer is not in its graph and would keep its
old input width while its producer shrinks (the forward pass then fails). Every
convolution's and batch-norm's output is therefore handed to the tracer as an extra
output, which puts dead branches into the graph without coupling them to anything.
For the same reason the network is traced in training mode (with batch-norm statistics
frozen), so that training-only branches such as DARTS's auxiliary head are seen, and
every layer whose output the network returns (the classifier, an auxiliary
classifier) keeps its outputs.
"""
from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator

import torch
import torch_pruning as tp
from torch import nn

_TRACED = (nn.Conv2d, nn.BatchNorm2d, nn.Linear)


def prune(model: nn.Module, ratio: float, example_input: torch.Tensor) -> nn.Module:
    """A copy of ``model`` with a share ``ratio`` (0 < ratio < 1) of the channels of every
    prunable layer group removed (smallest L2 norm first), the outputs of the layers
    producing the network's outputs (the logits) kept. ``example_input`` is one batch the
    network accepts. The copy runs, trains and has roughly ``(1 - ratio)**2`` of the
    convolution MACs; ``model`` is left unchanged."""
    if not 0.0 < ratio < 1.0:
        raise ValueError(f"the pruning ratio must be between 0 and 1 (exclusive), got {ratio}")
    pruned = copy.deepcopy(model)
    example_input = example_input.to(next(pruned.parameters()).device)
    outputs: dict[nn.Module, torch.Tensor] = {}
    hooks = [
        m.register_forward_hook(lambda module, _inputs, out: outputs.__setitem__(module, out))
        for m in pruned.modules()
        if isinstance(m, _TRACED)
    ]
    try:
        with _training_forward(pruned):
            returned = pruned(example_input)
        returned = returned if isinstance(returned, tuple) else (returned,)
        heads = [m for m, out in outputs.items() if any(out is r for r in returned)]
        pruner = tp.pruner.MetaPruner(
            pruned,
            example_input,
            importance=tp.importance.GroupMagnitudeImportance(p=2),
            pruning_ratio=ratio,
            ignored_layers=heads,
            forward_fn=_traced_forward,
            output_transform=lambda out: [*(out if isinstance(out, tuple) else (out,)), *outputs.values()],
        )
    finally:
        for hook in hooks:
            hook.remove()
    pruner.step()
    pruned.train(model.training)
    return pruned


def _traced_forward(net: nn.Module, x: torch.Tensor):
    with _training_forward(net):
        return net(x)


@contextlib.contextmanager
def _training_forward(net: nn.Module) -> Iterator[None]:
    """Training mode for one forward pass, batch-norm running statistics unchanged."""
    norms = [m for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved = [(m.momentum, None if m.num_batches_tracked is None else m.num_batches_tracked.clone()) for m in norms]
    was_training = net.training
    for m in norms:
        m.momentum = 0.0
    net.train()
    try:
        yield
    finally:
        net.train(was_training)
        for m, (momentum, tracked) in zip(norms, saved):
            m.momentum = momentum
            if tracked is not None:
                m.num_batches_tracked.copy_(tracked)
