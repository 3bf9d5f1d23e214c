r"""Saliency in chunks of images: peak memory set by ``max_batch``, not by how many images a caller passes.

A method's :meth:`attribute` runs one forward/backward pass over all the images it is given, and
methods that evaluate copies per image multiply that: Smooth Grad-CAM++ and batched SmoothGrad run
``batch_size`` noisy copies of every image per pass, DeepLift runs each image with its reference.
Chapter 05 once passed 150 images x 50 copies = 7,500 VGG16 inputs to one backward pass (about
510 GiB of saved activations). :func:`attribute_in_chunks` (and the wrapper :class:`Chunked`, STYLE 4)
splits the images into chunks so that no pass holds more than ``max_batch`` inputs, whatever the
number of images; the maps are the unchunked call's (to float rounding), because every method's map
of an image depends on that image alone (the methods' ``test_batch_size_does_not_change_maps``) and
noisy copy j is the same draw for every image (:func:`xaibook.saliency.cam.noise_copies`).

How many inputs a method puts into one pass is read from its options through :data:`PASS_SIZES`,
a table keyed by class (one entry per registered method; a test refuses a method without one).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, ClassVar

import torch

from . import _core
from .cam import GradCAM, GradCAMpp, SmoothGradCAMpp
from .gradients import DeepLift, VanillaGrad
from .lime import Lime
from .occlusion import Occlusion
from .scorecam import ScoreCAM
from .smooth import Method, SmoothGrad, Wrapper
from .targets import Target, predicted_class


@dataclass(frozen=True)
class PassSize:
    """How many inputs one forward/backward pass of a method holds, for a chunk of ``n`` images.

    A pass holds ``per_image * n`` inputs (the images' copies that run together), or ``fixed``
    inputs for methods whose perturbed copies run in batches of their own ``batch_size`` across
    image boundaries (Score-CAM's masked inputs, occluded inputs, LIME's perturbations): the
    largest pass is ``max(per_image * n, fixed)``.
    """

    per_image: int
    fixed: int = 0


def _smoothgrad(method: SmoothGrad) -> PassSize:
    # B copies of every image per pass, each copy a batch the wrapped method multiplies in turn
    inner = pass_size(method.method)
    return PassSize((method.batch_size or 1) * inner.per_image, inner.fixed)


#: inputs per pass of each method class, read from its options (subclasses use their base's entry)
PASS_SIZES: dict[type, Callable[[Any], PassSize]] = {
    VanillaGrad: lambda m: PassSize(1),
    DeepLift: lambda m: PassSize(2),                       # the image and its reference, one pass
    GradCAM: lambda m: PassSize(1),
    GradCAMpp: lambda m: PassSize(1),
    SmoothGradCAMpp: lambda m: PassSize(m.batch_size),     # batch_size noisy copies of every image
    ScoreCAM: lambda m: PassSize(1, m.batch_size),         # masked inputs, batch_size per forward
    Occlusion: lambda m: PassSize(1, m.batch_size),        # occluded inputs, batch_size per forward
    Lime: lambda m: PassSize(1, m.batch_size),             # perturbed images, batch_size per forward
    SmoothGrad: _smoothgrad,
}


def pass_size(method: Method) -> PassSize:
    """The :class:`PassSize` of ``method``, from :data:`PASS_SIZES` (the entry of its class or nearest base)."""
    for cls in type(method).__mro__:
        entry = PASS_SIZES.get(cls)
        if entry is not None:
            return entry(method)
    raise TypeError(f"xaibook.saliency.chunked does not know how many inputs {type(method).__name__} runs per "
                    f"pass: add its class to xaibook.saliency.chunked.PASS_SIZES")


def images_per_chunk(method: Method, max_batch: int) -> int:
    """The most images per chunk that keep every pass of ``method`` within ``max_batch`` inputs.

    Raises:
        ValueError: one image alone needs more than ``max_batch`` inputs per pass (its ``batch_size``
            copies, or a ``batch_size`` of masked/occluded/perturbed inputs): lower the method's
            ``batch_size`` (its maps do not depend on it) or raise ``max_batch``.
    """
    _core.check_at_least("max_batch", max_batch, 1)
    size = pass_size(method)
    name = type(method).__name__
    if size.per_image > max_batch:
        raise ValueError(f"{name} runs {size.per_image} inputs per image in one pass (its batch_size of copies), "
                         f"more than max_batch={max_batch}: build it with batch_size at most {max_batch} "
                         f"(maps do not depend on it) or raise max_batch")
    if size.fixed > max_batch:
        raise ValueError(f"{name} runs its perturbed inputs {size.fixed} per pass (batch_size={size.fixed}), more "
                         f"than max_batch={max_batch}: build it with batch_size at most {max_batch} or raise max_batch")
    return max_batch // size.per_image


def rows_of(target: Target, n: int, lo: int, hi: int) -> Target:
    """``target`` of a batch of ``n`` samples, applied to the chunk of rows ``lo:hi``.

    The chunk's (hi - lo, K) logits are placed at rows lo:hi of an (n, K) batch (the other rows
    zero), the target is applied to that batch and rows lo:hi of its scores are returned, so a
    per-sample target (``class_score([3, 7, ...])``, a target frozen on all n samples) scores each
    chunk's samples as it would in the whole batch. Exact for any target that scores each row from
    that row alone (every target of :mod:`xaibook.saliency.targets`), linear or not, and differentiable;
    no extra forward pass is needed to freeze a class first. The target's own bookkeeping is then the
    size of n logits, smaller than the n maps the call returns; the model's activations, which are
    what outgrows a GPU, stay those of one chunk.
    """

    def chunk(z: torch.Tensor) -> torch.Tensor:
        if z.shape[0] != hi - lo:
            raise ValueError(f"the target of rows {lo}:{hi} of {n} samples got a batch of {z.shape[0]} logits, "
                             f"not {hi - lo}")
        before = z.new_zeros((lo, *z.shape[1:]))
        after = z.new_zeros((n - hi, *z.shape[1:]))
        return target(torch.cat([before, z, after]))[lo:hi]

    return chunk


def attribute_in_chunks(method: Method, inputs: torch.Tensor, target: Target = predicted_class, *, max_batch: int,
                        device: torch.device | str | None = None, **kwargs: Any) -> torch.Tensor:
    r"""``method.attribute(inputs, target, **kwargs)``, run on chunks of images so that no pass holds
    more than ``max_batch`` inputs.

    A chunk holds :math:`\lfloor \mathrm{max\_batch} / c \rfloor` images, :math:`c` the inputs one
    image contributes to a pass (:func:`images_per_chunk`); the target is applied to each chunk as to
    its rows of the whole batch (:func:`rows_of`). Maps equal the unchunked call's to float rounding.

    Args:
        method: any registered method (anything with ``model`` and ``attribute``, listed in :data:`PASS_SIZES`).
        inputs: (N, C, *S) images or videos, on any device.
        target: callable from logits (N, K) to scores (N,), e.g. ``class_score(classes)`` with N classes.
        max_batch: the most inputs (images, noisy or masked copies) in one forward/backward pass.
        device: where each chunk runs (the model's device); None: where ``inputs`` are. Maps come back
            on ``inputs``' device, so only one chunk at a time occupies ``device``.
        **kwargs: passed to ``method.attribute`` (e.g. ``normalize=False`` for a CAM).
    Returns:
        (N, *S) maps, as the method returns them. Used in chapters 03_lung_sliding and 05_feature_cam.
    """
    _core.check_inputs(inputs)
    n = inputs.shape[0]
    if n == 0:
        raise ValueError(f"no inputs to explain: got an empty batch of shape {tuple(inputs.shape)}")
    step = images_per_chunk(method, max_batch)
    run_on = inputs.device if device is None else torch.device(device)
    parts = []
    for lo in range(0, n, step):
        hi = min(lo + step, n)
        maps = method.attribute(inputs[lo:hi].to(run_on), rows_of(target, n, lo, hi), **kwargs)
        parts.append(maps.to(inputs.device))
    return torch.cat(parts)


class Chunked(Wrapper):
    """Any method, run on chunks of images of at most ``max_batch`` inputs per pass (STYLE 4).

    ``Chunked(build_method("smoothgradcampp", model, layer, batch_size=16), max_batch=32).attribute(x, target)``
    explains any number of images with at most 32 inputs in a pass: 2 images x 16 noisy copies.
    Raises at construction when one image alone needs more than ``max_batch`` inputs (:func:`images_per_chunk`).
    Used in chapter 05_feature_cam.
    """

    contract: ClassVar[str] = "wrapped"

    def __init__(self, method: Method, max_batch: int) -> None:
        images_per_chunk(method, max_batch)     # refuse a method that cannot fit, before anything runs
        self.method = method
        self.max_batch = max_batch


    def attribute(self, inputs: torch.Tensor, target: Target = predicted_class, **kwargs: Any) -> torch.Tensor:
        """:func:`attribute_in_chunks` of the wrapped method: (N, C, *S) -> (N, *S) maps."""
        return attribute_in_chunks(self.method, inputs, target, max_batch=self.max_batch, **kwargs)
