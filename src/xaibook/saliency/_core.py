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


def check_finite(t: torch.Tensor, what: str) -> torch.Tensor:
    """Refuse NaN or infinite values (a NaN weight or input, an overflowing score) instead of
    letting min-max scaling turn them into a blank map; returns ``t``."""
    if not torch.isfinite(t).all():
        raise ValueError(f"{what} contain NaN or infinite values: check the model's weights and the input "
                         f"(a NaN anywhere in the network reaches every map)")
    return t


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


GRADCAMPP_VARIANTS = ("chattopadhay", "gradcam-pytorch")


def gradcampp_alpha(activations: torch.Tensor, d2: torch.Tensor, d3: torch.Tensor, variant: str) -> torch.Tensor:
    r"""Grad-CAM++'s pixel weights from the second- and third-order terms :math:`D^2, D^3` (N, C, *S).

    ``"chattopadhay"``: :math:`\alpha_{ab} = D^2_{ab} / (2 D^2_{ab} + (\sum_{ij} A_{ij})\, D^3_{ab})`;
    ``"gradcam-pytorch"``: :math:`\alpha_{ab} = D^2_{ab} / (2 D^2_{ab} + \sum_{ij} A_{ij} D^3_{ij})`.
    Zero denominators are replaced by one (the numerator is then zero too, or the pixel is
    degenerate). For Grad-CAM++ :math:`D^k = g^k`; Smooth Grad-CAM++ averages them over noisy copies.
    """
    check_one_of("variant", variant, GRADCAMPP_VARIANTS)
    dims = spatial_dims(d2)
    if variant == "chattopadhay":
        denom = 2 * d2 + activations.sum(dim=dims, keepdim=True) * d3
    else:
        denom = 2 * d2 + (activations * d3).sum(dim=dims, keepdim=True)
    return d2 / torch.where(denom != 0, denom, torch.ones_like(denom))


def _at_least_float32(t: torch.Tensor) -> torch.dtype:
    return torch.promote_types(t.dtype, torch.float32)


def gradcampp_weights(activations: torch.Tensor, gradients: torch.Tensor, scores: torch.Tensor | None = None,
                      *, variant: str = "chattopadhay", exp_score: bool | None = None) -> torch.Tensor:
    r"""Grad-CAM++ channel weights (Chattopadhay et al. 2018, Eqs. 19-20), in one of two published forms.

    With :math:`g_{ab} = \partial S/\partial A^k_{ab}`, :math:`w_k = \sum_{ab} \alpha^k_{ab}\,\mathrm{ReLU}(s\, g_{ab})`,
    :math:`\alpha` from :func:`gradcampp_alpha` with :math:`D^2 = g^2, D^3 = g^3`, and

    - ``"chattopadhay"`` (the paper's Eq. 19 as pytorch-grad-cam computes it): :math:`s = 1`;
    - ``"gradcam-pytorch"`` (1Konny's and stefannc's GradCAM-Pytorch, used by Austerjost et al. 2021,
      and MONAI): the per-pixel sum :math:`\sum_{ij} A_{ij} g_{ij}^3` and :math:`s = \exp(S)`.

    The two agree only where the gradient is spatially constant (the last block before global
    average pooling and a linear head); at an inner layer they differ. :math:`\exp(S)` is one
    positive scale per sample (no effect after min-max) but overflows float32 above S = 88, so
    that form is evaluated in float64. Everything is computed in at least float32: :math:`g^3`
    underflows float16 for :math:`|g| < 4\cdot10^{-3}`. ``exp_score`` overrides the form's :math:`s`.

    Args:
        activations, gradients: (N, C, *S).
        scores: (N,) target scores; required when :math:`s = \exp(S)`.
    Returns:
        (N, C) weights, float32 or float64. Used in chapters 01_foam (gradcam-pytorch) and 04_steel_defects.
    """
    check_one_of("variant", variant, GRADCAMPP_VARIANTS)
    dims = spatial_dims(gradients)
    use_exp = (variant == "gradcam-pytorch") if exp_score is None else exp_score
    dtype = torch.float64 if use_exp else _at_least_float32(gradients)
    g, a = gradients.to(dtype), activations.to(dtype)
    alpha = gradcampp_alpha(a, g.pow(2), g.pow(3), variant)
    if use_exp:
        if scores is None:
            raise ValueError("the exp(score) form needs the target scores")
        scale = torch.exp(scores.detach().to(dtype)).reshape(-1, *([1] * (g.ndim - 1)))
        return (alpha * F.relu(scale * g)).sum(dim=dims)
    return (alpha * F.relu(g)).sum(dim=dims)


def smooth_gradcampp_weights(activations: torch.Tensor, d1: torch.Tensor, d2: torch.Tensor, d3: torch.Tensor,
                             *, variant: str = "gradcam-pytorch") -> torch.Tensor:
    r"""Smooth Grad-CAM++ channel weights (Omeiza et al. 2019, Eqs. 5-7).

    :math:`D^k = \frac1n \sum_i (\partial S/\partial A)^k\big|_{x+\epsilon_i}` are the first-, second-
    and third-order gradient terms averaged over n noisy copies; then
    :math:`w_c = \sum_{ab} \alpha_{ab} \mathrm{ReLU}(D^1_{ab})` with :math:`\alpha` from
    :func:`gradcampp_alpha` (Omeiza et al. and torch-cam use the per-pixel sum, ``"gradcam-pytorch"``).
    This is not the average of n finished Grad-CAM++ maps. Computed in at least float32.

    Args:
        activations: (N, C, *S) feature maps of the clean input.
        d1, d2, d3: (N, C, *S) averaged gradient powers.
    Returns:
        (N, C) weights. Used in chapter 05_feature_cam.
    """
    dtype = _at_least_float32(d1)
    alpha = gradcampp_alpha(activations.to(dtype), d2.to(dtype), d3.to(dtype), variant)
    return (alpha * F.relu(d1.to(dtype))).sum(dim=spatial_dims(d1))


def upsample(cam: torch.Tensor, size: tuple[int, ...]) -> torch.Tensor:
    """Resize (N, *S) maps to ``size`` (bilinear for 2-D, trilinear for 3-D), align_corners=False."""
    mode = {1: "linear", 2: "bilinear", 3: "trilinear"}[len(size)]
    return F.interpolate(cam[:, None], size=size, mode=mode, align_corners=False)[:, 0]


def minmax(maps: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Per-sample min-max normalisation of (N, *S) maps to [0, 1]; a constant map becomes zeros.

    NaN or infinite values raise: they would otherwise turn the whole map into zeros."""
    check_finite(maps, "maps to normalise")
    flat = maps.reshape(maps.shape[0], -1)
    lo = flat.min(1, keepdim=True).values
    hi = flat.max(1, keepdim=True).values
    out = (flat - lo) / (hi - lo).clamp_min(eps)
    out = torch.where((hi - lo) > eps, out, torch.zeros_like(out))
    return out.reshape(maps.shape)
