"""VKDNW (Tybl & Neumann, CVPR 2025, "Training-free Neural Architecture Search through
Variance of Knowledge of Deep Network Weights"): how evenly the Fisher information of an
untrained network is spread over its weights.

The network is built with ``seed`` and re-initialised as the reference implementation
does (Kaiming normal, fan-in; ``at_init.kaiming_fan_in_init``), then run in eval mode, in
which images do not interact: batch-norm normalises with its freshly initialised running
statistics (mean 0, variance 1). (The reference's NAS-Bench-201 networks keep no running
statistics, so its eval-mode batch-norm normalises with the statistics of the batch,
which is one image in its per-image Jacobian.)
As in the paper, the Fisher information matrix is estimated for a sample of the weights:
one per parameter tensor (its first element), P of them, so that F is P x P whatever
the network's size. With J_n the (classes x P) Jacobian of image n's logits with respect
to those weights and p_n its predicted class probabilities,

    F = 1/N sum_n J_n^T (diag(p_n) - p_n p_n^T) J_n,

the expected outer product of the log-likelihood's gradient under the model's own
predictions (the paper's definition), in float64. The probabilities are smoothed towards
uniform by ``smoothing`` (the reference implementation's 0.05), which keeps the
covariance away from a rank-one collapse on confidently-predicting networks.

VKDNW is the entropy of F's eigenvalue deciles: with q_1..q_9 the 10%, ..., 90% quantiles
of the eigenvalues (linear interpolation; eigenvalues are clipped at 0, F being positive
semi-definite up to round-off) and ``r_k = q_k / sum q``,

    VKDNW = -sum_k r_k log r_k   (between 0 and log 9).

The paper's single-signal score, VKDNW_single, adds the number of trainable layers
aleph (the reference code counts parameter tensors, = P) so that aleph orders networks
and VKDNW breaks the ties: the reference ranks by the pair (aleph, VKDNW). That pair order
is what ``aleph + VKDNW / log 9`` gives (the second term lies in [0, 1]), which is the
``vkdnw`` estimate, negated (lower is better); ``layers=False`` leaves out aleph and
estimates ``-VKDNW`` alone. A network whose logits do not depend on the image (a cell
whose output is disconnected, e.g. all ``none`` edges) or whose deciles are all 0 gets
``DEGENERATE``.
"""
from __future__ import annotations

import math
from typing import Callable

import torch
from torch import nn

from monas.data import ScoringData
from monas.estimators.at_init import MinibatchEstimator, kaiming_fan_in_init, seeded_build
from monas.estimators.base import EstimationError, deterministic_kernels
from monas.registry import ESTIMATORS

DEGENERATE = 1.0e6
"""The estimate of a network without a usable Fisher spectrum; every other estimate is
above -(number of parameter tensors + 1), far below it."""

DECILES = torch.linspace(0.1, 0.9, 9, dtype=torch.float64)


class _FirstElementGradients:
    """Per-image gradients of a scalar per image with respect to the first element of
    every parameter tensor, read from hooks: for a weight used as ``out = w * a + ...``,
    the gradient of image n is the sum over positions of ``d out / d(its channel 0)``
    times the activation ``a`` that element multiplies. Images must not interact (eval
    mode: batch-norm uses its running statistics), so each image's gradient is its own."""

    _FACTORS = (nn.Conv2d, nn.Linear, nn.BatchNorm1d, nn.BatchNorm2d)

    def __init__(self, net: nn.Module) -> None:
        self.modules = [m for m in net.modules() if any(True for _ in m.parameters(recurse=False))]
        for m in self.modules:
            if not isinstance(m, self._FACTORS):
                raise EstimationError(f"vkdnw reads gradients of Conv2d, Linear and BatchNorm only, not {type(m).__name__}")
            if isinstance(m, nn.Conv2d) and m.padding_mode != "zeros":
                raise EstimationError(f"vkdnw needs zero-padded convolutions, not padding_mode={m.padding_mode!r}")
            if isinstance(m, nn.modules.batchnorm._BatchNorm) and (m.training or m.running_var is None):
                raise EstimationError("vkdnw needs batch-norm in eval mode with running statistics")
        self.count = sum(len(list(m.parameters(recurse=False))) for m in self.modules)
        self._factors: dict[nn.Module, dict[str, torch.Tensor]] = {}
        self._grads: dict[nn.Module, torch.Tensor] = {}
        self._handles = [m.register_forward_hook(self._forward_hook) for m in self.modules]

    def _forward_hook(self, module: nn.Module, inputs, output: torch.Tensor) -> None:
        if module in self._factors:
            raise EstimationError(f"vkdnw needs each module to run once per forward pass ({type(module).__name__} ran twice)")
        x = inputs[0].detach()
        channel = -1 if isinstance(module, nn.Linear) else 1
        if isinstance(module, nn.Conv2d):  # the input pixels that weight[0, 0, 0, 0] multiplies
            one_hot = torch.zeros((1, 1, *module.kernel_size), dtype=x.dtype, device=x.device)
            one_hot[0, 0, 0, 0] = 1.0
            weight = nn.functional.conv2d(x[:, :1], one_hot, None, module.stride, module.padding, module.dilation)
        elif isinstance(module, nn.Linear):
            weight = x[..., :1]
        else:
            weight = (x[:, :1] - module.running_mean[0]) / torch.sqrt(module.running_var[0] + module.eps)
        self._factors[module] = {"weight": weight, "bias": None}
        output.register_hook(lambda grad, m=module, c=channel: self._grads.__setitem__(m, grad.narrow(c, 0, 1)))

    def jacobian(self, logits: torch.Tensor) -> torch.Tensor:
        """The (N, classes, P) float64 Jacobian of ``logits`` (computed by the hooked
        network) with respect to the first elements, P in ``named_parameters`` order."""
        n, classes = logits.shape
        jacobian = torch.zeros((n, classes, self.count), dtype=torch.float64, device=logits.device)
        for c in range(classes):
            self._grads.clear()
            cotangent = torch.zeros_like(logits)
            cotangent[:, c] = 1.0
            logits.backward(cotangent, retain_graph=c < classes - 1)
            columns = []
            for m in self.modules:
                grad = self._grads.get(m)
                for name, _ in m.named_parameters(recurse=False):
                    if grad is None:  # the output does not depend on this module
                        columns.append(torch.zeros(n, dtype=torch.float64, device=logits.device))
                        continue
                    factor = self._factors[m][name]
                    contribution = grad if factor is None else grad * factor
                    columns.append(contribution.reshape(n, -1).sum(1).to(torch.float64))
            jacobian[:, c] = torch.stack(columns, dim=1)
        return jacobian

    def remove(self) -> None:
        for handle in self._handles:
            handle.remove()


def fisher_information(net: nn.Module, images: torch.Tensor, smoothing: float = 0.05) -> torch.Tensor:
    """The (P, P) float64 Fisher information of ``net`` (in eval mode) on ``images`` for the
    first element of each of its P parameter tensors, in ``named_parameters`` order; class
    probabilities smoothed towards uniform by ``smoothing``."""
    gradients = _FirstElementGradients(net)
    # The hooks need gradients with respect to module outputs only: with the weights
    # frozen and the images differentiable instead, backward skips every weight gradient.
    trainable = [p for p in net.parameters() if p.requires_grad]
    try:
        for p in trainable:
            p.requires_grad_(False)
        logits = net(images.detach().requires_grad_(True))
        jacobian = gradients.jacobian(logits)
    finally:
        gradients.remove()
        for p in trainable:
            p.requires_grad_(True)
    out = logits.detach().to(torch.float64)
    probs = torch.softmax(out, dim=1) * (1.0 - smoothing) + smoothing / out.shape[1]
    covariance = torch.diag_embed(probs) - probs[:, :, None] * probs[:, None, :]
    return torch.einsum("ncp,ncd,ndq->pq", jacobian, covariance, jacobian) / len(images)


def decile_entropy(eigenvalues: torch.Tensor) -> float:
    """``-sum r log r`` of the normalised 10%..90% quantiles of ``eigenvalues`` (clipped at
    0); NaN when the quantiles are all 0."""
    values = eigenvalues.to(torch.float64).clamp_min(0.0)
    deciles = torch.quantile(values, DECILES.to(values.device))
    ratios = deciles / deciles.sum()
    return -torch.special.xlogy(ratios, ratios).sum().item()


@ESTIMATORS.register("vkdnw")
class VKDNW(MinibatchEstimator):
    """``-(aleph + VKDNW / log 9)`` (``layers=True``, VKDNW_single's order) or ``-VKDNW``
    (``layers=False``) of the network built and initialised with ``seed``, on
    ``batch_size`` training images (drawn with ``seed`` when there are more); lower is
    better. ``DEGENERATE`` when the spectrum is unusable."""

    name = "vkdnw"
    worst = 2 * DEGENERATE  # a failure ranks below even a degenerate network

    def __init__(self, batch_size: int = 64, smoothing: float = 0.05, layers: bool = True, seed: int = 0) -> None:
        if not 0.0 <= smoothing < 1.0:
            raise ValueError(f"vkdnw needs 0 <= smoothing < 1, got {smoothing}")
        super().__init__(batch_size, seed)
        self.smoothing = smoothing
        self.layers = layers

    def estimate(self, arch: str, build: Callable[[], nn.Module], data: ScoringData | None, device: torch.device) -> float:
        images = self.minibatch(data)[0].to(device)
        net = seeded_build(build, self.seed, init=kaiming_fan_in_init).to(device).eval()  # eval: dropout off too
        with deterministic_kernels():
            with torch.no_grad():
                out = net(images)
            if torch.equal(out, out[:1].expand_as(out)):  # the output ignores the image
                return DEGENERATE
            fisher = fisher_information(net, images, self.smoothing)
        entropy = decile_entropy(torch.linalg.eigvalsh(fisher))
        if not math.isfinite(entropy):
            return DEGENERATE
        if not self.layers:
            return -entropy
        return -(len(fisher) + entropy / math.log(len(DECILES)))
