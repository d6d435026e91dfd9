"""Low-fidelity training: the conventional estimate. Train the whole network for a few
epochs on the training subset and report its error on the validation subset.

The recipe is NAS-Bench-201's, shortened: SGD with Nesterov momentum 0.9, weight decay
5e-4, cosine learning-rate decay to zero, batches of 128, no data augmentation.

With ``early_stop="curve"`` training ends early once the PEng4NN engine
(``monas.train.curves``) has a converged prediction of the final validation accuracy.
"""
from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from monas.train.curves import CurveStopper
from monas.data import ScoringData
from monas.estimators.base import EstimationError, Estimator, deterministic_kernels
from monas.registry import ESTIMATORS

EARLY_STOP = ("none", "curve")


@ESTIMATORS.register("train")
class ShortTraining(Estimator):
    """Validation error (%) after training the freshly initialised network for
    ``epochs`` epochs on the ``n_train`` training images.

    Each epoch visits the training images once in an order drawn from ``seed`` (the
    last batch may be smaller; batches of one image are dropped, as batch-norm cannot
    train on them). The learning rate starts at ``lr`` and follows a cosine to zero
    over all steps. The batch-norm statistics are then recomputed over the training
    images with the final weights, and the error is measured in eval mode on the
    ``n_val`` validation images. ``seed`` seeds the initialisation
    and the shuffling, so the same seed gives the same error (on CUDA, up to the
    reduction order of atomic kernels that cuDNN's deterministic mode does not cover).

    ``early_stop="curve"``: the validation error is measured as above (batch-norm
    recalibration included) every half epoch and fed to a ``CurveStopper`` over
    ``epochs``; once its prediction of the accuracy at ``epochs`` has converged,
    training stops and the estimate is the PREDICTED error at ``epochs`` (100 - the
    predicted accuracy), so that networks stopped at different times are compared at
    the same nominal budget. A network whose prediction never converges trains to
    the end and gets its error measured at ``epochs``, as with ``early_stop="none"``
    (the same number for networks that draw no random numbers in training mode, as
    the measurements then leave the training unchanged).
    ``stop_below`` > 0 (accuracy in %) also stops a network as soon as even the
    optimistic prediction (the highest of the last 3, plus the 0.5-point tolerance)
    is below it: a network that cannot reach that accuracy is not trained further, and
    its estimate is its latest predicted error.
    """

    name = "train"
    error_in_percent = True

    def __init__(
        self,
        n_train: int = 5000,
        n_val: int = 1000,
        epochs: int = 3,
        lr: float = 0.05,
        batch_size: int = 128,
        momentum: float = 0.9,
        weight_decay: float = 5e-4,
        seed: int = 0,
        early_stop: str = "none",
        stop_below: float = 0.0,
    ) -> None:
        if n_train < 2 or n_val < 1:
            raise ValueError("train needs n_train >= 2 and n_val >= 1")
        if epochs < 1 or batch_size < 2:
            raise ValueError("epochs must be >= 1 and batch_size >= 2")
        if not lr > 0:
            raise ValueError(f"lr must be positive, got {lr}")
        if early_stop not in EARLY_STOP:
            raise ValueError(f"unknown early_stop {early_stop!r} (known: {', '.join(EARLY_STOP)})")
        if not 0.0 <= stop_below <= 100.0 or (stop_below > 0 and early_stop == "none"):
            raise ValueError("stop_below is an accuracy in % (0 = off) and needs early_stop=curve")
        self.n_train = n_train
        self.n_val = n_val
        self.epochs = epochs
        self.lr = lr
        self.batch_size = batch_size
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.seed = seed
        self.early_stop = early_stop
        self.stop_below = stop_below

    def knobs(self) -> dict:
        """The settings that determine the estimate; without early stopping the
        early-stopping settings are left out, so such runs record what they always did."""
        knobs = super().knobs()
        if self.early_stop == "none":
            del knobs["early_stop"], knobs["stop_below"]
        return knobs

    def estimate(self, arch: str, build: Callable[[], nn.Module], data: ScoringData, device: torch.device) -> float:
        # The generators stay seeded through training, for layers that draw random
        # numbers in their forward pass (dropout); the caller's state is restored after.
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            torch.manual_seed(self.seed)
            net = build().to(device)
            if self.early_stop == "none":
                self.train(net, data)
                return self.error(net, data)
            stopper = CurveStopper(float(self.epochs), stop_below=self.stop_below)
            errors: list[float] = []

            def checkpoint(epoch: float) -> bool:
                errors.append(self.error(net, data))
                return stopper.update(epoch, 100.0 - errors[-1])

            if self.train(net, data, checkpoint) < self.epochs:
                # The curve may extrapolate beyond [0, 100] % (see monas.train.curves).
                return 100.0 - min(100.0, max(0.0, stopper.prediction))
            return errors[-1]

    def train(self, net: nn.Module, data: ScoringData, checkpoint: Callable[[float], bool] | None = None) -> float:
        """Train ``net`` in place on ``data``'s training subset with the recipe above;
        return the number of epochs trained (``epochs`` unless stopped).

        ``checkpoint(epoch)``, when given, is called every half epoch (epoch = 0.5, 1.0,
        ..., ``epochs``; after half of an epoch's batches, rounded up, and at its end;
        an epoch of a single batch has no half-epoch point) and may use ``net`` in
        any mode; returning True ends training there. The learning-rate schedule is
        that of the full ``epochs`` either way."""
        order = torch.Generator().manual_seed(self.seed)
        n = len(data.train_x)
        steps_per_epoch = sum(1 for i in range(0, n, self.batch_size) if n - i >= 2)
        total_steps = self.epochs * steps_per_epoch
        halfway = (steps_per_epoch + 1) // 2
        optimizer = torch.optim.SGD(
            net.parameters(), lr=self.lr, momentum=self.momentum, weight_decay=self.weight_decay, nesterov=True
        )
        step = 0
        with deterministic_kernels():
            for epoch in range(self.epochs):
                net.train()
                perm = torch.randperm(n, generator=order).to(data.train_x.device)
                done = 0  # steps of this epoch
                for i in range(0, n, self.batch_size):
                    idx = perm[i : i + self.batch_size]
                    if len(idx) < 2:
                        continue
                    for group in optimizer.param_groups:
                        group["lr"] = 0.5 * self.lr * (1.0 + math.cos(math.pi * step / total_steps))
                    loss = F.cross_entropy(net(data.train_x[idx]), data.train_y[idx])
                    if not torch.isfinite(loss):
                        raise EstimationError(f"training diverged (loss {loss.item()}) at step {step}")
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    optimizer.step()
                    step += 1
                    done += 1
                    if checkpoint is not None and done == halfway < steps_per_epoch:
                        if checkpoint(epoch + 0.5):
                            return epoch + 0.5
                        net.train()
                if checkpoint is not None and checkpoint(epoch + 1.0):
                    return epoch + 1.0
        return float(self.epochs)

    def error(self, net: nn.Module, data: ScoringData) -> float:
        """Validation error (%) of ``net`` as the estimate measures it: batch-norm
        statistics recalibrated over the training subset, then evaluated in eval mode."""
        with deterministic_kernels():
            self.recalibrate_batch_norm(net, data.train_x)
            return self.validation_error(net, data)

    @torch.no_grad()
    def recalibrate_batch_norm(self, net: nn.Module, images: torch.Tensor) -> None:
        """Replace every batch-norm layer's running statistics by their exact average
        over ``images`` under the final weights (a forward pass in train mode, batches
        of ``batch_size``). After a few hundred steps at a high learning rate the
        exponential running averages still describe the early weights, and evaluating
        with them can put a network that trains well at chance level."""
        norms = [m for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]
        if not norms:
            return
        saved = [m.momentum for m in norms]
        for m in norms:
            m.reset_running_stats()
            m.momentum = None  # cumulative average over the batches that follow
        net.train()
        for i in range(0, len(images), self.batch_size):
            if len(images) - i >= 2:
                net(images[i : i + self.batch_size])
        for m, momentum in zip(norms, saved):
            m.momentum = momentum

    @torch.inference_mode()
    def validation_error(self, net: nn.Module, data: ScoringData) -> float:
        """Error (%) of ``net`` in eval mode on the validation subset."""
        net.eval()
        wrong = 0
        for i in range(0, len(data.val_x), self.batch_size):
            logits = net(data.val_x[i : i + self.batch_size])
            wrong += int((logits.argmax(1) != data.val_y[i : i + self.batch_size]).sum())
        return 100.0 * wrong / len(data.val_x)
