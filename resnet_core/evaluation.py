"""The one definition of training and test error, everywhere (curves, finals, verdicts, lesions, CSV, JSON).

Error is the misclassified fraction in eval mode after BatchNorm's statistics are re-estimated on
the whole training set under the current weights (`estimate_norm_statistics`, "precise BN",
Wu & Johnson 2021). The running averages kept during training lag the weights of a deep or
strongly regularised net and can report a net that fits its data as failing.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from resnet_core.models import Stack
from resnet_core.paired import PairedStack
from resnet_core.specs import EVAL_BATCH


def norm_modules(model: Stack | PairedStack) -> list[nn.Module]:
    """The modules whose `momentum` the model's BatchNorm reads: a Stack's BN layers, or a PairedStack (one for all)."""
    if isinstance(model, PairedStack):
        return [model] if model.norms else []
    return [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


@torch.no_grad()
def estimate_norm_statistics(model: Stack | PairedStack, x: Tensor) -> None:
    """Set every BN layer's running mean / var to their average over all of `x` under the current weights.

    One training-mode pass in chunks of EVAL_BATCH, with momentum = chunk / samples seen, so each
    running statistic becomes the size-weighted mean of the chunks' statistics. Training itself
    never reads running statistics, so this changes no training step, only what evaluation sees.
    """
    norms = norm_modules(model)
    if not norms:
        return
    momenta, was_training = [m.momentum for m in norms], model.training
    model.train()
    seen = 0
    try:
        for start in range(0, len(x), EVAL_BATCH):
            chunk = x[start : start + EVAL_BATCH]
            seen += len(chunk)
            for module in norms:
                module.momentum = len(chunk) / seen
            model(chunk)
    finally:
        for module, momentum in zip(norms, momenta, strict=True):
            module.momentum = momentum
        model.train(was_training)


@torch.no_grad()
def error_rate(model: Stack | PairedStack, x: Tensor, y: Tensor) -> Tensor:
    """Misclassified fraction in eval mode: a device scalar, or (2,) for a PairedStack.

    Uses the running statistics as they are: call `estimate_norm_statistics` on the training set
    first, as `evaluate` does, for the lab's one definition of training and test error.
    """
    was_training = model.training
    model.eval()
    wrong = torch.zeros((), device=x.device)
    for start in range(0, len(x), EVAL_BATCH):
        logits = model(x[start : start + EVAL_BATCH])
        wrong = wrong + (logits.argmax(-1) != y[start : start + EVAL_BATCH]).sum(-1)
    model.train(was_training)
    return wrong / max(len(x), 1)


def evaluate(model: Stack | PairedStack, data: tuple[Tensor, ...]) -> tuple[Tensor, Tensor]:
    """(train error, test error) under the lab's definition: BN statistics re-estimated on the training set first."""
    x_train, y_train, x_test, y_test = data
    estimate_norm_statistics(model, x_train)
    return error_rate(model, x_train, y_train), error_rate(model, x_test, y_test)
