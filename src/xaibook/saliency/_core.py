"""Pure CAM math on tensors, dimension-agnostic: (N, C, *spatial) for images and videos."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def check_inputs(inputs: torch.Tensor) -> None:
    """Refuse anything that is not an (N, C, *spatial) batch of images or videos."""
    if inputs.ndim < 3:
        raise ValueError(f"expected (N, C, *spatial) inputs, got shape {tuple(inputs.shape)}")


def check_at_least(name: str, value: int, low: int) -> None:
    """Refuse a count option below ``low`` (batch sizes, sample counts), naming it."""
    if value < low:
        raise ValueError(f"{name} must be at least {low}, got {value}")


def check_one_of(name: str, value: str, choices: tuple[str, ...]) -> None:
    """Refuse an option outside ``choices``, naming it and listing them."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")


def spatial_dims(t: torch.Tensor) -> tuple[int, ...]:
    """The spatial axes of an (N, C, *spatial) tensor: (2, 3) for images, (2, 3, 4) for video."""
    if t.ndim < 3:
        raise ValueError(f"expected an (N, C, *spatial) tensor, got shape {tuple(t.shape)}")
    return tuple(range(2, t.ndim))


def cam_from_weights(activations: torch.Tensor, weights: torch.Tensor, *, relu: bool = True) -> torch.Tensor:
    r"""Weighted sum of feature maps: :math:`L = \mathrm{ReLU}(\sum_k w_k A^k)`.

    Args:
        activations: (N, C, *S) feature maps of the target layer.
        weights: (N, C) channel weights.
    Returns:
        (N, *S) class activation map.
    """
    b, c, *spatial = activations.shape
    cam = (weights.reshape(b, c, *([1] * len(spatial))) * activations).sum(1)
    return cam.clamp_min(0) if relu else cam


def gradcam_weights(gradients: torch.Tensor) -> torch.Tensor:
    r"""Grad-CAM channel weights (Selvaraju et al. 2020, Eq. 1): :math:`w_k = \frac{1}{Z}\sum_{ab} \partial S / \partial A^k_{ab}`.

    (N, C, *S) -> (N, C).
    """
    return gradients.mean(dim=spatial_dims(gradients))


def gradcampp_weights(activations: torch.Tensor, gradients: torch.Tensor, scores: torch.Tensor | None = None,
                      *, exp_score: bool = False) -> torch.Tensor:
    r"""Grad-CAM++ channel weights (Chattopadhay et al. 2018, Eqs. 19-20).

    :math:`\alpha^k_{ab} = g^2 / (2 g^2 + \sum_{ij} A^k_{ij}\, g^3)` with :math:`g = \partial S/\partial A^k_{ab}`,
    zero denominators replaced by one, and :math:`w_k = \sum_{ab} \alpha^k_{ab}\,\mathrm{ReLU}(s\, g)` where
    :math:`s = \exp(S)` when ``exp_score`` (the variant of stefannc/GradCAM-Pytorch, used by
    Austerjost et al. 2021, and of MONAI) and :math:`s = 1` otherwise (pytorch-grad-cam).
    Because :math:`\exp(S) > 0` is one scale per sample, the two variants give the same map after
    min-max normalisation; the exp variant overflows float32 for scores above about 88, so it is
    evaluated in float64 here.

    Args:
        activations, gradients: (N, C, *S).
        scores: (N,) target scores; required when ``exp_score``.
    Returns:
        (N, C) weights. Used in chapter 01_foam.
    """
    dims = spatial_dims(gradients)
    g2 = gradients.pow(2)
    g3 = gradients.pow(3)
    sum_a = activations.sum(dim=dims, keepdim=True)
    denom = 2 * g2 + sum_a * g3
    denom = torch.where(denom != 0, denom, torch.ones_like(denom))
    alpha = g2 / denom
    if exp_score:
        if scores is None:
            raise ValueError("exp_score=True needs the target scores")
        scale = torch.exp(scores.detach().double()).reshape(-1, *([1] * (gradients.ndim - 1)))
        return (alpha.double() * F.relu(scale * gradients.double())).sum(dim=dims)
    return (alpha * F.relu(gradients)).sum(dim=dims)


def upsample(cam: torch.Tensor, size: tuple[int, ...]) -> torch.Tensor:
    """Resize (N, *S) maps to ``size`` (bilinear for 2-D, trilinear for 3-D), align_corners=False."""
    mode = {1: "linear", 2: "bilinear", 3: "trilinear"}[len(size)]
    return F.interpolate(cam[:, None], size=size, mode=mode, align_corners=False)[:, 0]


def minmax(maps: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Per-sample min-max normalisation of (N, *S) maps to [0, 1]; a constant map becomes zeros."""
    flat = maps.reshape(maps.shape[0], -1)
    lo = flat.min(1, keepdim=True).values
    hi = flat.max(1, keepdim=True).values
    out = (flat - lo) / (hi - lo).clamp_min(eps)
    out = torch.where((hi - lo) > eps, out, torch.zeros_like(out))
    return out.reshape(maps.shape)
