"""Forward hooks that never outlive the call that set them (STYLE 7)."""
from __future__ import annotations

import contextlib
from typing import Iterator

import torch
from torch import nn


class _Capture:
    """The output of one module during the forward pass inside a :func:`capture` context."""

    def __init__(self, module: nn.Module) -> None:
        self.module = module
        self.output: torch.Tensor | None = None
        self.calls = 0
        self.version = 0

    def tensor(self) -> torch.Tensor:
        """The captured output, refusing anything a CAM would silently get wrong.

        Raises when the module saw no forward pass, ran more than once (which call's output is
        "the" activation would be a guess), or when a later in-place operation changed the
        captured tensor (e.g. ``relu(inplace=True)`` right after the target layer), which would
        make the activations differ from what the gradients were taken at.
        """
        name = type(self.module).__name__
        if self.output is None:
            raise RuntimeError(f"target layer {name} saw no forward pass: is it a module of this model?")
        if self.calls > 1:
            raise RuntimeError(f"target layer {name} ran {self.calls} times in one forward pass; choose a layer "
                               f"that runs once (a module reused inside the model cannot be hooked unambiguously)")
        if self.output._version != self.version:
            raise RuntimeError(f"the output of target layer {name} was modified in place after it was captured "
                               f"(an in-place operation such as ReLU(inplace=True) follows it); hook the module "
                               f"after that operation, or make it out of place")
        return self.output


@contextlib.contextmanager
def capture(module: nn.Module) -> Iterator[_Capture]:
    """Record ``module``'s (non-detached) output while the context is open; read it with ``.tensor()``.

    Gradients are then taken with ``torch.autograd.grad(score, store.tensor())``, which touches
    neither the model's parameters' ``.grad`` nor the input. The hook handle is removed in
    ``finally``, also when the body raises.
    """
    store = _Capture(module)

    def forward_hook(_module: nn.Module, _inputs: tuple, output: torch.Tensor) -> None:
        store.calls += 1
        if not isinstance(output, torch.Tensor):
            raise TypeError(f"target layer {type(module).__name__} returns {type(output).__name__}, not a tensor")
        store.output, store.version = output, output._version

    handle = module.register_forward_hook(forward_hook)
    try:
        yield store
    finally:
        handle.remove()


@contextlib.contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Put every module in eval mode and restore each module's own training flag afterwards.

    The flags are set directly, module by module, in both directions: ``model.eval()`` and
    ``model.train()`` call the model's own ``train`` method, which a model may override to do
    more (freeze batch-norm statistics, move buffers), so they are not called. Cheap when the
    model is already in eval mode (the usual case for saliency): nothing is switched.
    """
    training = [m for m in model.modules() if m.training]
    for m in training:
        m.training = False
    try:
        yield model
    finally:
        for m in training:
            m.training = True
