r"""How much memory one step needs: an estimate to print before a paper-profile run, and a meter for tests.

:func:`estimate_peak` estimates the peak of (a) one training step at batch B and (b) one saliency pass
(forward and backward) of b inputs. From activation sizes (any device): the bytes of the inputs and
outputs of every leaf module for one input (a batch-of-1 forward under ``no_grad``), times the
batch, plus the parameters; training adds a gradient per trainable parameter and the optimiser's
state (Adam: two moments per trainable parameter):

.. math:: M_{\mathrm{train}} = P + (1 + s)\,P_{\mathrm{trainable}} + B\,A, \qquad
   M_{\mathrm{saliency}} = P + b\,A,

with :math:`P` the parameter bytes, :math:`s` the optimiser's states per parameter and :math:`A` the
activation bytes of one input. It counts what autograd keeps for the backward pass to within a
third: against :func:`pass_meter` on a Grad-CAM pass (parameters subtracted) it was 1% under for
Inception v3, 16% under for VGG16, 30% under for EfficientNet-Lite0 (whose fused batch-norm and
activation modules save an intermediate that is no module's input or output) and 32% over for
NASNet-A Mobile. Intermediates inside a module are not counted, nor is workspace (cuDNN, the
allocator's rounding). On CUDA it measures instead: ``torch.cuda.max_memory_allocated`` over a
forward and backward pass at batch 1 and 4, extrapolated linearly to the batch.
:func:`pass_meter` measures passes directly (largest batch that reached the model, bytes saved for
the backward), for tests that memory stays bounded. Printed before the paper profile of every
chapter runs.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any, Iterator, Sequence

import torch
from torch import nn

from .._utils.hooks import eval_mode

#: states an optimiser keeps per trainable parameter (Adam and AdamW: two moments; SGD with momentum: one)
OPTIMISER_STATES = {"adam": 2, "adamw": 2, "sgd-momentum": 1, "sgd": 0}

GIB = 1024 ** 3


def _tensors(obj: Any) -> Iterator[torch.Tensor]:
    """Every tensor in a module's output (a tensor, or tuples, lists and dicts of them)."""
    if isinstance(obj, torch.Tensor):
        yield obj
    elif isinstance(obj, (tuple, list)):
        for item in obj:
            yield from _tensors(item)
    elif isinstance(obj, dict):
        for item in obj.values():
            yield from _tensors(item)


def _storage_bytes(tensors: list[torch.Tensor]) -> int:
    """Bytes of the distinct storages behind ``tensors``: an in-place ReLU's output (the same storage
    as its input) and views count once."""
    seen: dict[int, int] = {}
    for t in tensors:
        storage = t.untyped_storage()
        seen[storage.data_ptr()] = storage.nbytes()
    return sum(seen.values())


def parameter_bytes(model: nn.Module, *, trainable: bool = False) -> int:
    """Bytes of the model's parameters (only those with ``requires_grad`` when ``trainable``)."""
    return sum(p.numel() * p.element_size() for p in model.parameters() if p.requires_grad or not trainable)


def activation_bytes(model: nn.Module, example: torch.Tensor) -> int:
    """Bytes of the input and of every leaf module's inputs and outputs for ONE input (``example[:1]``).

    A batch-of-1 forward pass runs in eval mode under ``no_grad``, with a forward hook on every
    module without children; a module called twice (torchvision ResNet's ``relu``) counts twice,
    and tensors sharing a storage (in-place operations, views, one module's output that is the
    next one's input) count once. All outputs are held
    until the end, so freed memory cannot be reused under another output. The caller's model is
    left as it was (mode restored, hooks removed).

    Args:
        example: (N, C, *S) inputs (only the first is used), moved to the model's device.
    Returns:
        bytes per input. Used in every chapter through :func:`estimate_peak`.
    """
    x = example[:1].detach().to(_device(model)).clone()     # its own storage, not the whole example's
    outputs: list[torch.Tensor] = [x]

    def hook(_module: nn.Module, inputs: Any, output: Any) -> None:
        # inputs too: a functional operation's result (a residual sum) is the next module's input
        outputs.extend(t.detach() for t in (*_tensors(inputs), *_tensors(output)))

    leaves = [m for m in model.modules() if next(m.children(), None) is None]
    handles = [m.register_forward_hook(hook) for m in leaves]
    try:
        with eval_mode(model), torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
    return _storage_bytes(outputs)


def _device(model: nn.Module) -> torch.device:
    for p in model.parameters():
        return p.device
    return torch.device("cpu")


def _dtype(model: nn.Module) -> torch.dtype:
    for p in model.parameters():
        if p.is_floating_point():
            return p.dtype
    return torch.float32


def _size(n: float) -> str:
    for unit, scale in (("GiB", GIB), ("MiB", 1024 ** 2), ("KiB", 1024)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{int(n)} B"


@dataclass(frozen=True)
class PeakEstimate:
    """Peak memory (bytes) of one training step and one saliency pass, and how they were obtained."""

    how: str                          # "estimated from activation sizes" or "measured on cuda ..."
    training: int | None = None       # bytes of one training step at ``train_batch``
    train_batch: int | None = None
    saliency: int | None = None       # bytes of one saliency pass of ``saliency_batch`` inputs
    saliency_batch: int | None = None
    parts: dict[str, int] = field(default_factory=dict, compare=False)   # the terms, for the curious

    def __str__(self) -> str:
        steps = []
        if self.training is not None:
            steps.append(f"training {_size(self.training)} at batch {self.train_batch}")
        if self.saliency is not None:
            steps.append(f"saliency {_size(self.saliency)} at {self.saliency_batch} inputs per pass")
        return f"peak per step ({self.how}): " + "; ".join(steps)


def _measured_extra(model: nn.Module, example: torch.Tensor, batch: int, training: bool) -> int:
    """CUDA bytes allocated beyond what was allocated before, at the peak of one forward and backward
    pass at ``batch``: gradients w.r.t. the trainable parameters (``training``) or the input. Uses
    ``torch.autograd.grad``, so no ``.grad`` is written; eval mode, so no running statistic moves."""
    device = _device(model)
    x = example[:1].detach().to(device).expand(batch, *example.shape[1:]).clone()
    params = [p for p in model.parameters() if p.requires_grad]
    torch.cuda.synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    base = torch.cuda.memory_allocated(device)
    with eval_mode(model), torch.enable_grad():
        if training:
            out = model(x)
            grads = torch.autograd.grad(out.float().sum(), params, allow_unused=True)
        else:
            x.requires_grad_(True)
            out = model(x)
            grads = torch.autograd.grad(out.float().sum(), x)
    torch.cuda.synchronize(device)
    peak = torch.cuda.max_memory_allocated(device) - base
    del out, grads
    return peak


def _extrapolated(model: nn.Module, example: torch.Tensor, batch: int, training: bool) -> int:
    # a first, unmeasured pass: cuBLAS and cuDNN allocate their workspaces once, on first use
    _measured_extra(model, example, 1, training)
    one, four = (_measured_extra(model, example, b, training) for b in (1, 4))
    slope = max(0.0, (four - one) / 3)
    return int(round(one + (batch - 1) * slope))


def estimate_peak(model: nn.Module, input_shape: Sequence[int], *, train_batch: int | None = None,
                  saliency_batch: int | None = None, optimiser: str = "adam",
                  measure: bool | None = None) -> PeakEstimate:
    r"""Peak memory of one training step at ``train_batch`` and one saliency pass of ``saliency_batch``
    inputs (see the module docstring for the formula); either may be None (not estimated).

    Args:
        model: the network, on the device it will run on; left as it was (mode, weights, ``.grad``).
        input_shape: one input's shape (C, *S), e.g. ``(3, 224, 224)``; the estimate feeds zeros of
            that shape in the dtype of the model's parameters.
        train_batch: the training batch size (None: the chapter does not train this model).
        saliency_batch: inputs per saliency pass: the chunks' ``max_batch`` (:mod:`xaibook.saliency.chunked`).
        optimiser: a key of :data:`OPTIMISER_STATES`.
        measure: measure with ``torch.cuda.max_memory_allocated`` at batch 1 and 4 and extrapolate
            (default: when the model is on a CUDA device); else estimate from activation sizes.
    Returns:
        a :class:`PeakEstimate`; ``print`` it. Used in every chapter's paper profile.
    """
    if optimiser not in OPTIMISER_STATES:
        raise ValueError(f"optimiser must be one of {tuple(OPTIMISER_STATES)}, got {optimiser!r}")
    for name, value in (("train_batch", train_batch), ("saliency_batch", saliency_batch)):
        if value is not None and value < 1:
            raise ValueError(f"{name} must be None or at least 1, got {value}")
    if train_batch is None and saliency_batch is None:
        raise ValueError("give train_batch, saliency_batch or both: there is nothing to estimate")
    on_cuda = _device(model).type == "cuda"
    measure = on_cuda if measure is None else measure
    if measure and not on_cuda:
        raise ValueError(f"measure=True needs the model on a CUDA device, it is on {_device(model)}")
    example = torch.zeros((1, *input_shape), dtype=_dtype(model), device=_device(model))
    weights = parameter_bytes(model)
    trainable = parameter_bytes(model, trainable=True)
    if train_batch is not None and trainable == 0:
        raise ValueError("train_batch was given but the model has no trainable parameter (requires_grad)")
    state = OPTIMISER_STATES[optimiser] * trainable
    parts = {"parameters": weights, "optimiser state": state}
    training = saliency = None
    if measure:
        if train_batch is not None:
            parts["training pass"] = _extrapolated(model, example, train_batch, True)   # includes the gradients
            training = weights + parts["training pass"] + state
        if saliency_batch is not None:
            parts["saliency pass"] = _extrapolated(model, example, saliency_batch, False)
            saliency = weights + parts["saliency pass"]
        how = f"measured on {_device(model)} at batch 1 and 4, extrapolated"
    else:
        per_input = activation_bytes(model, example)
        parts.update({"activations per input": per_input, "gradients": trainable})
        if train_batch is not None:
            training = weights + trainable + state + train_batch * per_input
        if saliency_batch is not None:
            saliency = weights + saliency_batch * per_input
        how = "estimated from activation sizes"
    return PeakEstimate(how, training, train_batch, saliency, saliency_batch, parts)


@dataclass
class PassMeter:
    """What :func:`pass_meter` saw: the largest batch that reached the model's forward, and the most
    bytes of activations autograd saved for the backward in one forward pass of the model, over all
    passes."""

    largest_batch: int = 0
    peak_saved_bytes: int = 0
    passes: int = 0
    _saved: dict[tuple[int, int], int] = field(default_factory=dict, repr=False)
    _inside: bool = field(default=False, repr=False)

    def _start(self, batch: int) -> None:
        self.passes += 1
        self.largest_batch = max(self.largest_batch, batch)
        self._saved = {}

    def _save(self, t: torch.Tensor) -> None:
        # the tensor's own bytes, not its storage's: a chunk of the caller's batch is a view whose
        # storage the caller holds anyway; a tensor saved twice (a ReLU's output, the next layer's input) counts once
        nbytes = t.numel() * t.element_size()
        self._saved[(t.data_ptr(), nbytes)] = nbytes
        self.peak_saved_bytes = max(self.peak_saved_bytes, sum(self._saved.values()))


@contextlib.contextmanager
def pass_meter(model: nn.Module) -> Iterator[PassMeter]:
    """Measure the passes through ``model`` while the context is open (any device, CPU included).

    A forward pre-hook on ``model`` starts a pass and records its batch (the first input's first
    dimension); ``torch.autograd.graph.saved_tensors_hooks`` adds up the bytes of the distinct tensors
    autograd saves for the backward while the model's forward runs (its activations, parameters
    included; not what the caller computes from the logits, e.g. a target's (N, K) bookkeeping).
    The hooks are removed in ``finally``. Used in the tests of :mod:`xaibook.saliency.chunked`.
    """
    meter = PassMeter()

    def pre_hook(_module: nn.Module, inputs: tuple) -> None:
        meter._start(int(inputs[0].shape[0]))
        meter._inside = True

    def hook(_module: nn.Module, _inputs: tuple, _output: Any) -> None:
        meter._inside = False

    def pack(t: torch.Tensor) -> torch.Tensor:
        if meter._inside:
            meter._save(t)
        return t

    handles = [model.register_forward_pre_hook(pre_hook), model.register_forward_hook(hook)]
    try:
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            yield meter
    finally:
        for h in handles:
            h.remove()
