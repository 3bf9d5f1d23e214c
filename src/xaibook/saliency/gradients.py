r"""Gradient-based saliency: VanillaGrad (Simonyan et al. 2014) and DeepLift (Shrikumar et al. 2017).

One short base, one override point (STYLE 2): a method overrides :meth:`BaseGradient.attribute_channels`,
which returns per-channel attributions (N, C, *S); :meth:`BaseGradient.attribute` sums them over the
channel axis into RAW, signed (N, *S) maps. Rectification and scaling are left to
:func:`xaibook.saliency.normalise`, because Lorentz et al. 2021 (Sect. 4, Table 3) ablate exactly
that choice. Images (N, C, H, W) and videos (N, C, T, H, W) share one code path.

DeepLift is implemented here, not taken from captum: captum keeps one set of per-module state and
raises (or mis-attributes) when a module is called twice in one forward pass, which torchvision's
ResNet blocks do with their single ``self.relu``. Our rules live in forward hooks that replace each
call's output by a tensor with the same value and the DeepLift multiplier as its local derivative,
so every call of a reused module is handled on its own and the caller's model is never copied or
changed. Two more captum 0.9 deviations we avoid (see :func:`maxpool_rule` and the tests): a ReLU
feeding a MaxPool directly reads stale gradients (captum issue #1104), and overlapping max-pool
windows lose contributions. Used in chapter 04_steel_defects.

Precision: maps come back in the input's dtype. A float16/bfloat16 model (or one run under
``torch.autocast``) is supported: the channel sum and DeepLift's rules (the differences, the
``eps`` test and the ratio) are computed in at least float32, so ``eps`` keeps its meaning where
float16 would round it to zero. The gradients themselves flow through the model in its own dtype.
"""
from __future__ import annotations

import contextlib
import functools
import math
from typing import Callable, ClassVar, Iterator, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .._utils.hooks import eval_mode
from .._utils.precision import at_least_float32, compute_dtype, is_low_precision
from . import _core
from .registry import METHODS
from .targets import Target, predicted_class, target_scores


class BaseGradient:
    """Input attributions summed over channels; subclasses override :meth:`attribute_channels`.

    ``target_layer`` is accepted so that every registered method is built as
    ``METHODS.get(name)(model, target_layer, **options)``, and ignored: gradients are taken with
    respect to the input. The model runs in eval mode inside a context that restores each module's
    training flag; the input and its ``.grad`` and the parameters' ``.grad`` are left untouched.
    """

    name: ClassVar[str] = ""
    paper: ClassVar[str] = ""
    contract: ClassVar[str] = "signed"
    #: what the model sees of the inputs, and where it runs: None = the inputs as given, where they are
    #: (only LIME transforms them); SmoothGrad fixes its class through them
    preprocess: ClassVar[None] = None
    device: ClassVar[None] = None

    def __init__(self, model: nn.Module, target_layer: nn.Module | None = None) -> None:
        self.model = model

    def attribute_channels(self, inputs: torch.Tensor, target: Target) -> torch.Tensor:
        """(N, C, *S) detached inputs -> (N, C, *S) per-channel attributions."""
        raise NotImplementedError

    def attribute(self, inputs: torch.Tensor, target: Target = predicted_class) -> torch.Tensor:
        r"""Raw signed maps :math:`M = \sum_c R_c`, the channel sum of :meth:`attribute_channels`.

        Args:
            inputs: (N, C, *S) images (S = H, W) or videos (S = T, H, W).
            target: callable from logits (N, K) to scores (N,).
        Returns:
            (N, *S) detached, unnormalised, signed maps in the input's dtype, the channel sum taken
            in at least float32. Used in chapter 04_steel_defects.
        Raises:
            ValueError: the maps are not finite; for a float16/bfloat16 model (or autocast) the
                message names the method and the dtype, whose range was exceeded.
        """
        _core.check_inputs(inputs)
        channels = self.attribute_channels(inputs.detach(), target)
        maps = channels.to(at_least_float32(channels.dtype)).sum(1).to(inputs.dtype)
        dtype = compute_dtype(inputs)
        if is_low_precision(dtype) and not torch.isfinite(maps).all():
            raise ValueError(f"{self.name} maps contain NaN or infinite values with the model running in {dtype}: "
                             f"its activations or gradients left {dtype}'s range; run the model in float32")
        return _core.check_finite(maps, f"{self.name} maps")


@METHODS.register("vanillagrad")
class VanillaGrad(BaseGradient):
    r"""Gradient of the target score w.r.t. the input (Simonyan et al. 2014, Sect. 3, Eq. 3; "VanillaGrad").

    :math:`R_c = \partial S / \partial x_c`; the map is the signed channel sum
    :math:`M = \sum_c \partial S / \partial x_c`. Simonyan et al. take :math:`\max_c |\cdot|`
    instead; we keep the sign so that the All/Abs/ReLU normalisations of Lorentz et al. 2021
    (Table 3) act on the raw gradient. Used in chapter 04_steel_defects.
    """

    name = "VanillaGrad"
    paper = "Simonyan et al. 2014, ICLR workshop"

    def attribute_channels(self, inputs, target):
        x = inputs.detach().requires_grad_(True)  # a fresh leaf: the caller's tensor keeps its flag and grad
        with eval_mode(self.model), torch.enable_grad():
            scores = target_scores(target, self.model(x), x.shape[0])
            (grad,) = torch.autograd.grad(scores.sum(), x)
        return grad


# --- DeepLift rules -------------------------------------------------------------------------
# A rule maps (module, pre-activation input, output) of one call on the stacked batch
# [inputs; references] (2N) to a replacement output: same value, DeepLift multipliers as derivative.
Rule = Callable[[nn.Module, torch.Tensor, torch.Tensor, float], torch.Tensor]


def _halves(t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    if t.shape[0] % 2:
        raise RuntimeError(f"DeepLift expects the stacked batch [inputs; references], got an odd batch of "
                           f"{t.shape[0]} inside the model; modules that change the batch axis are not supported")
    return t.chunk(2)


def rescale_rule(module: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float) -> torch.Tensor:
    r"""Rescale rule (Shrikumar et al. 2017, Sect. 3.5.2) for an elementwise nonlinearity.

    Multiplier :math:`m = \Delta y / \Delta x` with :math:`\Delta = (\cdot) - (\cdot)_{\mathrm{ref}}`,
    the same for the input and the reference half; where :math:`|\Delta x| < \varepsilon` the
    module's own derivative is kept (the limit of the ratio, and captum's choice). Differences,
    the :math:`\varepsilon` test and the ratio are computed in at least float32: in float16 the
    default :math:`\varepsilon = 10^{-10}` rounds to 0, and :math:`0/0` would give NaN.

    Args:
        x: (2N, ...) pre-activation input of this call, connected to the graph.
        y: (2N, ...) output of this call.
    Returns:
        (2N, ...) tensor equal to ``y`` (in ``y``'s dtype) whose derivative w.r.t. ``x`` is ``m``.
    """
    acc = at_least_float32(x.dtype)
    dx = torch.cat(2 * [torch.sub(*_halves(x.detach().to(acc)))])
    dy = torch.cat(2 * [torch.sub(*_halves(y.detach().to(acc)))])
    small = dx.abs() < eps
    m = dy / torch.where(small, torch.ones_like(dx), dx)
    linear = x.to(acc) * m
    # y plus an exact zero that carries the derivative m: the value stays y, bit for bit
    return torch.where(small, y, y.detach() + (linear - linear.detach()).to(y.dtype))


_MAX_POOL = {nn.MaxPool1d: F.max_pool1d, nn.MaxPool2d: F.max_pool2d, nn.MaxPool3d: F.max_pool3d}


def maxpool_rule(module: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float) -> torch.Tensor:
    r"""DeepLift rule for max pooling, the variant of captum 0.9 (``deep_lift.maxpool``), per edge.

    For an output :math:`o` with :math:`\Delta y_o = y_o - y'_o`, the positive part
    :math:`(\Delta y_o)^+` goes to the argmax :math:`a_o` of the input's window and the negative part
    :math:`(\Delta y_o)^-` to the argmax :math:`b_o` of the reference's window, each divided by that
    position's :math:`\Delta x`: :math:`\partial y_o/\partial x_p = [p{=}a_o](\Delta y_o)^+/\Delta x_p
    + [p{=}b_o](\Delta y_o)^-/\Delta x_p`, so :math:`\sum_p m_{op}\Delta x_p = \Delta y_o` (summation
    to delta). Both ratios lie in [0, 1]. Positions with :math:`|\Delta x_p| < \varepsilon` keep the
    plain max-pool gradient, as in captum. Unlike captum, which writes the contributions back with
    ``max_unpool`` (overwriting, not adding, where overlapping windows share an argmax, e.g. the
    3x3 stride-2 pool of ResNet), contributions of overlapping windows are summed here, so
    summation to delta holds for overlapping pools too. As in :func:`rescale_rule`, the rule is
    computed in at least float32.

    Args:
        x: (2N, C, *S_in) input of this call, connected to the graph.
        y: (2N, C, *S_out) output of this call.
    Returns:
        (2N, C, *S_out) tensor equal to ``y`` with the rule's derivative on the input half; the
        reference half is detached (its gradient is never used).
    """
    if module.return_indices:
        raise ValueError(f"DeepLift does not support {type(module).__name__}(return_indices=True)")
    pool = functools.partial(_MAX_POOL[type(module)], kernel_size=module.kernel_size, stride=module.stride,
                             padding=module.padding, dilation=module.dilation, ceil_mode=module.ceil_mode)
    b2, c, *s_in = x.shape
    acc = at_least_float32(x.dtype)
    _, indices = pool(x.detach(), return_indices=True)
    idx_in, idx_ref = (i.reshape(b2 // 2, c, -1) for i in _halves(indices))
    flat = x.reshape(b2, c, -1).to(acc)
    x_in, x_ref = _halves(flat.detach())
    dx = x_in - x_ref
    y_in, y_ref = _halves(y.detach())
    dy = (y_in.to(acc) - y_ref.to(acc)).reshape(idx_in.shape)
    small = torch.cat(2 * [dx.abs() < eps])
    # rule path for positions with a usable difference, plain max-pool gradient for the others
    x_rule = torch.where(small, flat.detach(), flat)[: b2 // 2]
    x_grad = torch.where(small, flat, flat.detach()).reshape(x.shape)

    def weight(part: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        d = dx.gather(2, idx)
        return part / torch.where(d != 0, d, torch.ones_like(d))  # part is 0 wherever d is 0

    linear = (weight(dy.clamp_min(0), idx_in) * x_rule.gather(2, idx_in)
              + weight(dy.clamp_max(0), idx_ref) * x_rule.gather(2, idx_ref)).reshape(y_in.shape)
    plain = pool(x_grad)[: b2 // 2]
    y_new = y_in + (linear - linear.detach()).to(y.dtype) + (plain - plain.detach()).to(y.dtype)
    return torch.cat([y_new, y_ref])


RULES: dict[type, Rule] = {
    **{t: rescale_rule for t in (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.ELU, nn.CELU, nn.SELU, nn.GELU, nn.SiLU,
                                 nn.Sigmoid, nn.Tanh, nn.Softplus, nn.Hardtanh)},
    **{t: maxpool_rule for t in _MAX_POOL},
}


@contextlib.contextmanager
def deeplift_rules(model: nn.Module, eps: float = 1e-10) -> Iterator[None]:
    """Give every module of a type in :data:`RULES` its DeepLift derivative while the context is open.

    A forward pre-hook keeps a graph-connected copy of each call's input (an in-place ReLU would
    overwrite it), and the forward hook replaces the call's output by the rule's tensor. State is
    per call, so a module used several times per forward (torchvision ResNet's ``relu``) gets one
    multiplier per use. Nonlinearities called functionally (``F.relu``) or of other types keep
    their plain gradient and break summation to delta. Every handle is removed in ``finally``.
    """
    handles = []
    try:
        for module in model.modules():
            rule = RULES.get(type(module))
            if rule is None:
                continue
            stack: list[torch.Tensor] = []

            def pre_hook(_m, inputs, stack=stack):
                stack.append(inputs[0].clone())

            def hook(m, _inputs, output, stack=stack, rule=rule):
                return rule(m, stack.pop(), output, eps)

            handles.append(module.register_forward_pre_hook(pre_hook))
            handles.append(module.register_forward_hook(hook))
        yield
    finally:
        for h in handles:
            h.remove()


def gaussian_blur(x: torch.Tensor, sigma: float | Sequence[float]) -> torch.Tensor:
    r"""Gaussian blur over the spatial axes of an (N, C, *S) tensor, separable, edges replicated.

    The same kernel as ``scipy.ndimage.gaussian_filter(mode="nearest", truncate=4.0)`` applied to
    every (n, c) slice: radius :math:`r = \lfloor 4\sigma + 1/2 \rfloor`, weights
    :math:`\propto e^{-t^2 / 2\sigma^2}`, :math:`|t| \le r`.

    Args:
        x: (N, C, *S) images or videos.
        sigma: standard deviation in pixels (frames), one for all spatial axes or one per axis;
            0 leaves an axis unblurred.
    Returns:
        (N, C, *S) blurred copy in ``x``'s dtype, computed in at least float32 (a float16 kernel
        would not sum to one). Used in chapter 04_steel_defects (DeepLift's blur reference).
    """
    _core.check_inputs(x)
    spatial = x.ndim - 2
    sigmas = [float(sigma)] * spatial if isinstance(sigma, (int, float)) else [float(s) for s in sigma]
    if len(sigmas) != spatial or any(s < 0 or not math.isfinite(s) for s in sigmas):
        raise ValueError(f"sigma must be one non-negative number or one per spatial axis ({spatial}), got {sigma!r}")
    out = x.to(at_least_float32(x.dtype))
    for axis, s in zip(range(2, x.ndim), sigmas):
        if s == 0:
            continue
        radius = int(4.0 * s + 0.5)
        t = torch.arange(-radius, radius + 1, dtype=out.dtype, device=x.device)
        kernel = torch.exp(-0.5 * (t / s) ** 2)
        kernel = kernel / kernel.sum()
        moved = out.movedim(axis, -1)
        length = moved.shape[-1]
        # clamped indices = replicate padding of any width, also wider than the axis itself
        idx = torch.arange(-radius, length + radius, device=x.device).clamp(0, length - 1)
        padded = moved.index_select(-1, idx).reshape(-1, 1, length + 2 * radius)
        blurred = F.conv1d(padded, kernel.reshape(1, 1, -1)).reshape(moved.shape)
        out = blurred.movedim(-1, axis)
    return out.to(x.dtype)


BASELINES = ("zero", "blur")


@METHODS.register("deeplift")
class DeepLift(BaseGradient):
    r"""DeepLift with the Rescale rule (Shrikumar et al. 2017, Eq. 1-3 and Sect. 3.5.2), batched.

    :math:`R_c = (x_c - x'_c)\, m_c` where :math:`m` is the multiplier obtained by backpropagating
    the target score with each nonlinearity's derivative replaced by :math:`\Delta y / \Delta x`
    (:func:`rescale_rule`, :func:`maxpool_rule`). Summation to delta:
    :math:`\sum_{c,p} R_{c,p} = g \cdot (z(x) - z(x'))`, with :math:`z` the logits and
    :math:`g = \partial\,\mathrm{target}/\partial z` at the input, i.e. :math:`z_k(x) - z_k(x')`
    for ``class_score(k)`` and ``predicted_class`` (the class predicted for the input, not for the
    reference). Input and reference run in ONE forward pass of batch 2N, the "batched" variant of
    Lorentz et al. 2021 (Sect. 4). Rules cover the nonlinear modules in :data:`RULES` (ReLU family,
    sigmoid, tanh, max pooling); a nonlinearity called functionally (``F.relu``) keeps its gradient,
    and summation to delta then fails (the tests check that it holds on torchvision's ResNet-18).

    Args:
        baseline: ``"zero"`` (all-zero input) or ``"blur"`` (the input blurred with
            :func:`gaussian_blur`), the two references of Lorentz et al. 2021.
        sigma: blur width in pixels for ``"blur"``, one value or one per spatial axis. Lorentz et
            al. do not state theirs; the default 10 is the blur of the "meaningful perturbation" of
            Fong and Vedaldi 2017 (sigma 10 on 224 px ImageNet images), a similar scale for 256 px
            steel patches: it erases scratch- and pit-sized structure while keeping local brightness.
        eps: differences below this count as zero (rules fall back to the plain derivative); the
            test runs in at least float32, also for a float16/bfloat16 model.
    """

    name = "DeepLift"
    paper = "Shrikumar et al. 2017, ICML"

    def __init__(self, model: nn.Module, target_layer: nn.Module | None = None, *, baseline: str = "zero",
                 sigma: float | Sequence[float] = 10.0, eps: float = 1e-10) -> None:
        super().__init__(model, target_layer)
        _core.check_one_of("baseline", baseline, BASELINES)
        self.baseline = baseline
        self.sigma = sigma
        self.eps = eps

    def reference(self, inputs: torch.Tensor) -> torch.Tensor:
        """The (N, C, *S) reference input x' for (N, C, *S) inputs."""
        if self.baseline == "zero":
            return torch.zeros_like(inputs)
        return gaussian_blur(inputs, self.sigma)

    def attribute_channels(self, inputs, target):
        n = inputs.shape[0]
        ref = self.reference(inputs)
        both = torch.cat([inputs, ref]).requires_grad_(True)
        with eval_mode(self.model), deeplift_rules(self.model, self.eps), torch.enable_grad():
            logits = self.model(both)
            # only the input half is scored: the reference half feeds the rules' differences
            scores = target_scores(target, logits[:n], n)
            (grad,) = torch.autograd.grad(scores.sum(), both)
        acc = at_least_float32(inputs.dtype)
        return (inputs.to(acc) - ref.to(acc)) * grad[:n].to(acc)
