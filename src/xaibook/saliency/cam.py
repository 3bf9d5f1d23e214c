"""Class activation maps: one short base, one override point (STYLE 2)."""
from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn

from .._utils.hooks import capture, eval_mode
from ..registry import Registry
from . import _core
from .targets import Target, predicted_class

METHODS: Registry[type] = Registry("saliency method")


class BaseCAM:
    """Gathers activations and gradients of ``target_layer``; subclasses override :meth:`get_cam_weights`.

    The caller's model is never mutated: the forward pass runs in eval mode inside a context that
    restores each module's training flag, hooks are removed in ``finally``, and the input and its
    ``.grad`` are left as they were.
    """

    name: ClassVar[str] = ""
    paper: ClassVar[str] = ""

    def __init__(self, model: nn.Module, target_layer: nn.Module) -> None:
        self.model = model
        self.target_layer = target_layer

    def get_cam_weights(self, activations: torch.Tensor, gradients: torch.Tensor,
                        scores: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

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
            else in the dtype of the weights (float64 for the exp-score variant).
        """
        x = inputs.detach().requires_grad_(True)  # a fresh leaf: frozen models still get a graph
        with eval_mode(self.model), capture(self.target_layer) as store, torch.enable_grad():
            scores = target(self.model(x))
            if scores.shape != (x.shape[0],):
                raise ValueError(f"target must return one score per sample, got shape {tuple(scores.shape)}")
            if store.output is None:
                raise RuntimeError(f"target layer {type(self.target_layer).__name__} saw no forward pass")
            (gradients,) = torch.autograd.grad(scores.sum(), store.output)
            activations = store.output.detach()
        weights = self.get_cam_weights(activations, gradients, scores.detach())
        # in the weights' dtype: the exp-score variant is float64 and would overflow float32
        cam = _core.cam_from_weights(activations.to(weights.dtype), weights, relu=relu)
        if upsample:
            cam = _core.upsample(cam, tuple(inputs.shape[2:]))
        return _core.minmax(cam).to(inputs.dtype) if normalize else cam


@METHODS.register("gradcam")
class GradCAM(BaseCAM):
    """Grad-CAM (Selvaraju et al. 2020): channel weights are spatially averaged gradients."""

    name = "GradCAM"
    paper = "Selvaraju et al. 2020, IJCV 128:336"

    def get_cam_weights(self, activations, gradients, scores):
        return _core.gradcam_weights(gradients)


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

    def get_cam_weights(self, activations, gradients, scores):
        return _core.gradcampp_weights(activations, gradients, scores, variant=self.variant,
                                       exp_score=self.exp_score)
