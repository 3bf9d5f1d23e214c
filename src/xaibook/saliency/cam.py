"""Class activation maps: one short base, one override point (STYLE 2).

A CAM method overrides :meth:`BaseCAM.channel_weights`, which returns the target layer's
activations and one weight per channel; the base forms :math:`\\mathrm{ReLU}(\\sum_k w_k A^k)`,
upsamples and normalises. Gradient-based CAMs take their gradients with
:meth:`BaseCAM.layer_gradients`; Score-CAM (``scorecam.py``) scores masked inputs instead.
"""
from __future__ import annotations

from typing import ClassVar, Iterable, Iterator

import torch
from torch import nn

from .._utils.hooks import capture, eval_mode
from . import _core
from .registry import METHODS
from .targets import Target, class_score, frozen, predicted_class, target_scores


class BaseCAM:
    """Gathers the target layer's activations and channel weights; subclasses override :meth:`channel_weights`.

    The caller's model is never mutated: forward passes run in eval mode inside a context that
    restores each module's training flag, hooks are removed in ``finally``, and the input and its
    ``.grad`` are left as they were.
    """

    name: ClassVar[str] = ""
    paper: ClassVar[str] = ""
    contract: ClassVar[str] = "cam"
    #: what the model sees of the inputs, and where it runs: None = the inputs as given, where they are
    #: (only LIME transforms them); SmoothGrad fixes its class through them
    preprocess: ClassVar[None] = None
    device: ClassVar[None] = None

    def __init__(self, model: nn.Module, target_layer: nn.Module) -> None:
        if target_layer is None:
            raise ValueError(f"{type(self).__name__} needs a target layer (a module of the model)")
        self.model = model
        self.target_layer = target_layer

    def channel_weights(self, inputs: torch.Tensor, target: Target) -> tuple[torch.Tensor, torch.Tensor]:
        """(N, C, *S) detached inputs -> activations (N, K, *S') and channel weights (N, K)."""
        raise NotImplementedError

    def layer_gradients(self, inputs: torch.Tensor, target: Target) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Activations (N, K, *S'), gradients of the target scores w.r.t. them, and the scores (N,)."""
        x = inputs.detach().requires_grad_(True)  # a fresh leaf: frozen models still get a graph
        with eval_mode(self.model), capture(self.target_layer) as store, torch.enable_grad():
            scores = target_scores(target, self.model(x), x.shape[0])
            activations = store.tensor()
            (gradients,) = torch.autograd.grad(scores.sum(), activations)
        return activations.detach(), gradients, scores.detach()

    def attribute(self, inputs: torch.Tensor, target: Target = predicted_class, *, normalize: bool = True,
                  upsample: bool = True, relu: bool = True) -> torch.Tensor:
        """Maps for a batch.

        Args:
            inputs: (N, C, *S) images (S = H, W) or videos (S = T, H, W).
            target: callable from logits (N, K) to scores (N,).
            normalize: min-max each map to [0, 1].
            upsample: resize maps to the input's spatial size.
            relu: clamp the weighted sum at zero (the methods' definition); False keeps negative
                evidence, for the normalisation ablation of Lorentz et al. 2021 (Table 3, All-100).
        Returns:
            (N, *S) maps, detached, on the input's device; in the input's dtype when normalised,
            else in the dtype of the weights (at least float32; float64 for exp-score weights).
        """
        _core.check_inputs(inputs)
        activations, weights = self.channel_weights(inputs.detach(), target)
        _core.check_finite(weights, f"{self.name} channel weights")
        cam = _core.cam_from_weights(activations.to(weights.dtype), weights, relu=relu)
        if upsample:
            cam = _core.upsample(cam, tuple(inputs.shape[2:]))
        return _core.minmax(cam).to(inputs.dtype) if normalize else cam


@METHODS.register("gradcam")
class GradCAM(BaseCAM):
    """Grad-CAM (Selvaraju et al. 2020): channel weights are spatially averaged gradients."""

    name = "GradCAM"
    paper = "Selvaraju et al. 2020, IJCV 128:336"

    def channel_weights(self, inputs, target):
        activations, gradients, _ = self.layer_gradients(inputs, target)
        return activations, _core.gradcam_weights(gradients)


@METHODS.register("gradcampp")
class GradCAMpp(BaseCAM):
    """Grad-CAM++ (Chattopadhay et al. 2018) in one of two published forms (``variant``).

    ``"chattopadhay"`` (default) is the paper's Eq. 19 as pytorch-grad-cam computes it;
    ``"gradcam-pytorch"`` is the form of the GradCAM-Pytorch code (and MONAI), with exp(score):
    chapter 01_foam uses it because Austerjost et al. used that code. See
    :func:`xaibook.saliency._core.gradcampp_weights`.
    """

    name = "GradCAM++"
    paper = "Chattopadhay et al. 2018, WACV"

    def __init__(self, model: nn.Module, target_layer: nn.Module, *, variant: str = "chattopadhay",
                 exp_score: bool | None = None) -> None:
        super().__init__(model, target_layer)
        _core.check_one_of("variant", variant, _core.GRADCAMPP_VARIANTS)
        self.variant, self.exp_score = variant, exp_score

    def conditioning(self, batches: Iterable[tuple[torch.Tensor, torch.Tensor]]) -> _core.Conditioning:
        """How many channels of the target layer hit this form's ill-conditioning, over all
        ``batches`` of (inputs (n, C, *S), target classes (n,)) (:func:`xaibook.saliency._core.gradcampp_conditioning`).
        Used in chapters 01_foam and 05_feature_cam."""
        acts, grads = [], []
        for x, classes in batches:
            a, g, _ = self.layer_gradients(x, class_score(classes.to(x.device)))
            acts.append(a.cpu())
            grads.append(g.cpu())
        return _core.gradcampp_conditioning(torch.cat(acts), torch.cat(grads), self.variant)

    def channel_weights(self, inputs, target):
        activations, gradients, scores = self.layer_gradients(inputs, target)
        return activations, _core.gradcampp_weights(activations, gradients, scores, variant=self.variant,
                                                    exp_score=self.exp_score)


def noise_scale(x: torch.Tensor, noise: float) -> torch.Tensor:
    r""":math:`\sigma = \mathrm{noise} \cdot (\max x - \min x)` per input sample, shaped to broadcast over x."""
    b = x.shape[0]
    flat = x.reshape(b, -1)
    return (noise * (flat.amax(1) - flat.amin(1))).reshape(b, *([1] * (x.ndim - 1)))


def noise_copies(x: torch.Tensor, seed: int) -> Iterator[torch.Tensor]:
    """Standard-normal draws of one sample's shape, (1, C, *S), from a generator seeded with ``seed``.

    Copy j is the same draw for every sample of the batch (scaled by each sample's own range),
    so a sample's noise, and its map, do not depend on the batch it came in. Draws are made in at
    least float32 and rounded to the input's dtype, so float16 and bfloat16 runs see the float32
    run's noise (the CPU generator's float16 stream differs from its float32 one).
    """
    generator = torch.Generator(device=x.device).manual_seed(seed)
    draw = torch.promote_types(x.dtype, torch.float32)   # a half-precision run gets float32's noise, rounded
    while True:
        yield torch.randn(x.shape[1:], generator=generator, device=x.device, dtype=draw).to(x.dtype).unsqueeze(0)


@METHODS.register("smoothgradcampp")
class SmoothGradCAMpp(BaseCAM):
    r"""Smooth Grad-CAM++ (Omeiza et al. 2019): Grad-CAM++ with its gradient terms averaged over noisy copies.

    For n copies :math:`x + \epsilon_i`, :math:`\epsilon_i \sim \mathcal N(0, \sigma^2)` with
    :math:`\sigma = \mathrm{noise}\cdot(\max x - \min x)` per sample, the first-, second- and
    third-order terms :math:`g, g^2, g^3` at the target layer are averaged, then alpha and the
    weights are computed once (:func:`xaibook.saliency._core.smooth_gradcampp_weights`), on the
    clean input's activations. Averaging n finished Grad-CAM++ maps is a different method: that
    is ``SmoothGrad`` wrapped around ``gradcampp`` (registered as ``"smoothgrad"`` with
    ``method="gradcampp"``). The target's class is fixed on the clean input.

    Args:
        n_samples, noise: defaults 50 and 0.1 (stefannc's GradCAM-Pytorch; torch-cam uses 4 and an
            absolute std of 0.3).
        batch_size: noisy copies per forward/backward pass (maps do not depend on it).
        variant: alpha's denominator and epsilon (:func:`xaibook.saliency._core.gradcampp_alpha`).
            Omeiza et al.'s equation, as torch-cam's docstring transcribes it, has Chattopadhay's
            :math:`(\sum A)\,D^3_{ab}` (``"chattopadhay"``); torch-cam's code, and this default,
            use the per-pixel sum (``"gradcam-pytorch"``). Chapter 05 passes ``"chattopadhay"``.
        seed: seed of the noise generator; every call restarts it.
    """

    name = "Smooth Grad-CAM++"
    paper = "Omeiza et al. 2019, arXiv:1908.01224"

    def __init__(self, model: nn.Module, target_layer: nn.Module, *, n_samples: int = 50, noise: float = 0.1,
                 batch_size: int = 10, variant: str = "gradcam-pytorch", seed: int = 0) -> None:
        super().__init__(model, target_layer)
        _core.check_at_least("n_samples", n_samples, 1)
        _core.check_at_least("batch_size", batch_size, 1)
        _core.check_one_of("variant", variant, _core.GRADCAMPP_VARIANTS)
        if noise < 0:
            raise ValueError(f"noise must be non-negative, got {noise}")
        self.n_samples, self.noise, self.batch_size, self.variant, self.seed = n_samples, noise, batch_size, variant, seed

    def channel_weights(self, inputs, target):
        x = inputs.detach()
        b = x.shape[0]
        with eval_mode(self.model), capture(self.target_layer) as store, torch.no_grad():
            fixed = frozen(target, self.model(x))
            activations = store.tensor().detach()
        std = noise_scale(x, self.noise)
        draws = noise_copies(x, self.seed)
        sums = [torch.zeros(activations.shape, dtype=_core._wide(x), device=x.device) for _ in range(3)]
        done = 0
        while done < self.n_samples:
            copies = min(self.batch_size, self.n_samples - done)
            noisy = torch.cat([x + std * next(draws) for _ in range(copies)])
            _, grads, _ = self.layer_gradients(noisy, lambda z: torch.cat([fixed(block) for block in z.split(b)]))
            for g in grads.to(sums[0].dtype).split(b):
                for k, total in enumerate(sums, start=1):
                    total += g.pow(k)
            done += copies
        d1, d2, d3 = (t / self.n_samples for t in sums)
        return activations, _core.smooth_gradcampp_weights(activations, d1, d2, d3, variant=self.variant)
