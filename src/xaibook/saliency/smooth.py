r"""SmoothGrad as a wrapper around any saliency method (STYLE 4; model: captum's NoiseTunnel).

:math:`\hat M(x) = \frac{1}{n}\sum_{i=1}^{n} M(x + \epsilon_i)`, :math:`\epsilon_i \sim
\mathcal N(0, \sigma^2)`, :math:`\sigma = \text{noise} \cdot (\max x - \min x)` per input sample
(Smilkov et al. 2017, Sect. 3). Wrapping VanillaGrad gives SmoothGrad. Wrapping a CAM method
averages its finished maps over the noisy copies ("map averaging", as Eq. 6 of the Feature CAM
paper describes it); that is *not* Omeiza et al.'s Smooth Grad-CAM++, which averages the gradient
terms before forming one map (:class:`xaibook.saliency.cam.SmoothGradCAMpp`). The target's class is
fixed on the clean input, so every copy explains the same class. Used in chapter 04_steel_defects.
"""
from __future__ import annotations

from typing import Any, Callable, ClassVar, Protocol

import torch
from torch import nn

from .._utils.hooks import eval_mode
from .._utils.precision import at_least_float32
from . import _core
from .cam import noise_copies, noise_scale
from .registry import METHODS, build_method
from .targets import Target, frozen, predicted_class


class Method(Protocol):
    """What SmoothGrad wraps: a model, what the model sees of the inputs (``preprocess``, None for
    the inputs as given; LIME's normalisation) and where it runs (``device``, None for where the
    inputs are); every registered method states both."""

    model: nn.Module
    preprocess: Callable[[torch.Tensor], torch.Tensor] | None
    device: torch.device | str | None

    def attribute(self, inputs: torch.Tensor, target: Target, **kwargs: Any) -> torch.Tensor: ...


def _clean_logits(method: Method, x: torch.Tensor) -> torch.Tensor:
    """The wrapped method's logits for the clean inputs, computed the way its own forward passes run.

    Gradient and CAM methods feed the model the inputs as given; LIME feeds it
    ``preprocess(x)`` on its ``device``. Calling ``method.model(x)``
    directly would pick the class on un-preprocessed inputs, on the wrong device.
    """
    x = x if method.device is None else x.to(torch.device(method.device))
    return method.model(x if method.preprocess is None else method.preprocess(x))


class Wrapper:
    """Base of the wrappers (STYLE 4: SmoothGrad, :class:`xaibook.saliency.chunked.Chunked`): they
    run the wrapped ``method``'s model, on its inputs and device, so they state its ``model``,
    ``preprocess`` and ``device`` as their own."""

    method: Method

    @property
    def model(self) -> nn.Module:
        return self.method.model

    @property
    def preprocess(self):
        return self.method.preprocess

    @property
    def device(self):
        return self.method.device


def _per_copy(target: Target, n: int) -> Target:
    """Apply ``target`` to each block of n rows, so per-sample targets (``class_score([..])``)
    see batches laid out like the caller's inputs."""

    def tiled(logits: torch.Tensor) -> torch.Tensor:
        return torch.cat([target(block) for block in logits.split(n)])

    return tiled


class SmoothGrad(Wrapper):
    r"""Average a method's maps over ``n_samples`` noisy copies of the input (Smilkov et al. 2017).

    Args:
        method: any object with ``attribute(inputs, target, **kwargs) -> (N, *S)``.
        n_samples: number of noisy copies n (Lorentz et al. 2021 use 10, 50, 100; Smilkov et al. 50).
        noise: noise level :math:`\sigma / (\max x - \min x)`, the range taken per input sample over
            all channels and positions. Default 0.02, the value Lorentz et al. 2021 (Sect. 4) settled
            on for steel patches after finding the 0.2 they quote from the SmoothGrad authors (who
            recommend 10-20 %) too strong for their data.
        batch_size: ``None`` runs one noisy copy (of every input sample) per forward/backward pass,
            the "unbatched" variant; an integer B runs B copies per pass (a batch of B x N), the
            "batched" variant (Lorentz et al. set B = n). Both draw the same noise in the same order
            from the same generator, so they give the same maps up to floating-point rounding.
        absolute: average the maps' absolute values, :math:`\frac{1}{n}\sum_i |M(x + \epsilon_i)|`, as
            tf-keras-vis' ``Saliency`` does (its default ``gradient_modifier`` takes each copy's
            gradient's absolute value before the mean); False (default) averages the signed maps, as
            captum's ``NoiseTunnel`` and Smilkov et al.'s Eq. 2. With signed gradients the two differ:
            signs that flip between copies cancel in the signed mean, not in the absolute one.
        seed: seed of the ``torch.Generator`` that draws the noise; every call restarts it, so a
            call is deterministic and independent of the global RNG state. Copy j of every sample
            gets the same standard-normal draw (scaled by that sample's range), so a sample's map
            does not depend on the batch it came in.
    """

    name: ClassVar[str] = "SmoothGrad"
    paper: ClassVar[str] = "Smilkov et al. 2017, ICML workshop"
    contract: ClassVar[str] = "wrapped"

    def __init__(self, method: Method, n_samples: int, noise: float = 0.02, batch_size: int | None = None,
                 *, seed: int = 0, absolute: bool = False) -> None:
        _core.check_at_least("n_samples", n_samples, 1)
        if noise < 0:
            raise ValueError(f"noise must be non-negative, got {noise}")
        if batch_size is not None and batch_size < 1:
            raise ValueError(f"batch_size must be None (unbatched) or at least 1, got {batch_size}")
        self.method = method
        self.n_samples = n_samples
        self.noise = noise
        self.batch_size = batch_size
        self.seed = seed
        self.absolute = absolute

    def attribute(self, inputs: torch.Tensor, target: Target = predicted_class, **kwargs: Any) -> torch.Tensor:
        r"""Mean of the wrapped method's maps over the noisy copies.

        Args:
            inputs: (N, C, *S) images or videos.
            target: callable from logits (N, K) to scores (N,) that selects (a linear combination
                of) logits; its class is fixed on the clean input (one extra forward pass), then
                applied to each block of N rows (one noisy copy of the whole batch).
            **kwargs: passed to the wrapped method (e.g. ``normalize=False`` for a CAM method).
        Returns:
            (N, *S) averaged maps, as raw as the wrapped method's (no extra normalisation), in the
            wrapped method's dtype (the input's); the sum over copies is accumulated in at least
            float32, so float16/bfloat16 maps lose no digits to it. Used in chapter 04_steel_defects.
        """
        x = inputs.detach()
        b, *_ = x.shape
        with eval_mode(self.method.model), torch.no_grad():
            target = frozen(target, _clean_logits(self.method, x))
        std = noise_scale(x, self.noise)
        draws = noise_copies(x, self.seed)
        per_pass = self.batch_size or 1
        total: torch.Tensor | None = None
        done = 0
        while done < self.n_samples:
            copies = min(per_pass, self.n_samples - done)
            noisy = torch.cat([x + std * next(draws) for _ in range(copies)])
            maps = self.method.attribute(noisy, _per_copy(target, b), **kwargs)
            # accumulate copy by copy, in draw order, so both variants add in the same order
            for block in maps.split(b):
                block = block.to(at_least_float32(block.dtype))
                block = block.abs() if self.absolute else block
                total = block if total is None else total + block
            done += copies
        return (total / self.n_samples).to(maps.dtype)


@METHODS.register("smoothgrad")
class RegisteredSmoothGrad(SmoothGrad):
    """SmoothGrad around a registered method, built by name like every other entry.

    ``METHODS.get("smoothgrad")(model, layer, method="vanillagrad", n_samples=50)`` is SmoothGrad;
    ``method="gradcampp"`` averages finished Grad-CAM++ maps (map averaging, not Smooth Grad-CAM++:
    that is ``"smoothgradcampp"``). Options other than SmoothGrad's go to the wrapped method.
    """

    def __init__(self, model: nn.Module, target_layer: nn.Module | None = None, *, method: str = "vanillagrad",
                 n_samples: int = 50, noise: float = 0.02, batch_size: int | None = None, seed: int = 0,
                 absolute: bool = False, **options: Any) -> None:
        super().__init__(build_method(method, model, target_layer, **options), n_samples, noise, batch_size, seed=seed,
                         absolute=absolute)
