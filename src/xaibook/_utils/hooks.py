"""Forward hooks that never outlive the call that set them (STYLE 7)."""
from __future__ import annotations

import contextlib
from typing import Iterator

import torch
from torch import nn


class _Capture:
    """The output of one module during the forward pass inside a :func:`capture` context."""

    def __init__(self) -> None:
        self.output: torch.Tensor | None = None


@contextlib.contextmanager
def capture(module: nn.Module) -> Iterator[_Capture]:
    """Record ``module``'s (non-detached) output while the context is open.

    Gradients are then taken with ``torch.autograd.grad(score, store.output)``, which touches
    neither the model's parameters' ``.grad`` nor the input. The hook handle is removed in
    ``finally``, also when the body raises.
    """
    store = _Capture()

    def forward_hook(_module: nn.Module, _inputs: tuple, output: torch.Tensor) -> None:
        store.output = output

    handle = module.register_forward_hook(forward_hook)
    try:
        yield store
    finally:
        handle.remove()


@contextlib.contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Put every module in eval mode and restore each module's own training flag afterwards.

    Cheap when the model is already in eval mode (the usual case for saliency): nothing is
    switched, and only the modules that were training get their flag back. Restoring with
    ``module.train(flag)`` per module recurses into every subtree and cost about 2 ms per call
    on a ResNet-18, 6% of a 64-px VanillaGrad map on a CPU.
    """
    training = [m for m in model.modules() if m.training]
    if training:
        model.eval()
    try:
        yield model
    finally:
        for m in training:
            m.training = True
