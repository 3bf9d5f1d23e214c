"""Pure CAM math on tensors, dimension-agnostic: (N, C, *spatial) for images and videos."""
from __future__ import annotations

from typing import NamedTuple

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

    (N, C, *S) -> (N, C), averaged in at least float32 (a float16 or bfloat16 sum over a
    14x14 map loses about three digits).
    """
    return gradients.to(_at_least_float32(gradients)).mean(dim=spatial_dims(gradients))


#: Each Grad-CAM++ form is computed exactly as the code it is named after, epsilons included.
GRADCAMPP_VARIANTS = ("chattopadhay", "gradcam-pytorch")

#: the source each form copies, for settings tables and docs
GRADCAMPP_SOURCES = {
    "chattopadhay": "Chattopadhay et al. 2018, Eq. 19, as pytorch-grad-cam 1.5.7 computes it: "
                    "alpha = g^2 / (2 g^2 + (sum A) g^3 + 1e-6), alpha = 0 where g = 0; weights sum alpha ReLU(g)",
    "gradcam-pytorch": "GradCAM-Pytorch (1Konny; PyPI pytorch-gradcam 0.2.1, used by Austerjost et al. 2021): "
                       "alpha = g^2 / (D + 1e-7), D = 2 g^2 + sum(A g^3) with exact zeros set to 1; "
                       "weights sum alpha ReLU(exp(S) g)",
}

#: epsilon each source adds to alpha's denominator
_ALPHA_EPS = {"chattopadhay": 1e-6, "gradcam-pytorch": 1e-7}


def gradcampp_denominator(activations: torch.Tensor, d2: torch.Tensor, d3: torch.Tensor, variant: str) -> torch.Tensor:
    r"""Alpha's denominator before any epsilon, (N, C, *S).

    ``"chattopadhay"``: :math:`2 D^2_{ab} + (\sum_{ij} A_{ij})\, D^3_{ab}`;
    ``"gradcam-pytorch"``: :math:`2 D^2_{ab} + \sum_{ij} A_{ij} D^3_{ij}` (one value per channel
    in its second term). The second form can be negative or near zero wherever :math:`\sum A g^3`
    cancels :math:`2 g^2`: see :func:`gradcampp_conditioning`.
    """
    check_one_of("variant", variant, GRADCAMPP_VARIANTS)
    dims = spatial_dims(d2)
    if variant == "chattopadhay":
        return 2 * d2 + activations.sum(dim=dims, keepdim=True) * d3
    return 2 * d2 + (activations * d3).sum(dim=dims, keepdim=True)


def gradcampp_alpha(activations: torch.Tensor, d2: torch.Tensor, d3: torch.Tensor, variant: str) -> torch.Tensor:
    r"""Grad-CAM++'s pixel weights from the second- and third-order terms :math:`D^2, D^3` (N, C, *S),
    exactly as each form's source code computes them (:data:`GRADCAMPP_SOURCES`).

    ``"chattopadhay"`` (pytorch-grad-cam 1.5.7): :math:`\alpha = D^2 / (\text{denominator} + 10^{-6})`,
    set to 0 where :math:`D^2 = 0` (pytorch-grad-cam zeroes it where :math:`g = 0`; for one
    gradient :math:`g^2 = 0` exactly when :math:`g = 0`, except for an underflowing :math:`g^2`,
    where the numerator is 0 anyway).
    ``"gradcam-pytorch"`` (pytorch-gradcam 0.2.1): exact zeros of the denominator become 1, then
    :math:`10^{-7}` is added: :math:`\alpha = D^2 / (D' + 10^{-7})`.
    For Grad-CAM++ :math:`D^k = g^k`; Smooth Grad-CAM++ averages them over noisy copies.
    """
    denom = gradcampp_denominator(activations, d2, d3, variant)
    if variant == "chattopadhay":
        return torch.where(d2 != 0, d2 / (denom + _ALPHA_EPS[variant]), torch.zeros_like(d2))
    denom = torch.where(denom != 0, denom, torch.ones_like(denom))
    return d2 / (denom + _ALPHA_EPS[variant])


class Conditioning(NamedTuple):
    """How many channels of a Grad-CAM++ form hit its ill-conditioning (see :func:`gradcampp_conditioning`)."""

    channels: int            # channels with a non-zero gradient somewhere, over all samples
    negative: int            # of those, channels with a negative alpha at some pixel
    near_zero: int           # channels with |denominator| < 1e-3 x 2 g^2 at a pixel where g != 0
    alpha_min: float
    alpha_max: float

    def __str__(self) -> str:
        return (f"{self.negative} of {self.channels} channels have a negative alpha, {self.near_zero} a "
                f"denominator near zero; alpha ranges from {self.alpha_min:.3g} to {self.alpha_max:.3g}")


def gradcampp_conditioning(activations: torch.Tensor, gradients: torch.Tensor, variant: str) -> Conditioning:
    r"""Count the channels where a Grad-CAM++ form is ill-conditioned, for one batch (N, C, *S).

    For :math:`g \neq 0` alpha should lie in :math:`(0, 1/2]` when activations are non-negative
    (:math:`\sum A\, g^3` has the sign of :math:`g`). At an inner layer, with signed gradients,
    :math:`\sum_{ij} A_{ij} g^3_{ij}` can cancel or outweigh :math:`2 g^2_{ab}`: alpha then
    becomes negative or explodes, and the map depends on that noise. A channel counts as
    negative when any of its pixels with :math:`g \neq 0` gets a negative alpha, as near zero
    when its denominator there is below :math:`10^{-3} \cdot 2 g^2`. Used in chapter 01_foam.
    """
    dtype = _at_least_float32(gradients)
    g, a = gradients.detach().to(dtype), activations.detach().to(dtype)
    alpha = gradcampp_alpha(a, g.pow(2), g.pow(3), variant)
    denom = gradcampp_denominator(a, g.pow(2), g.pow(3), variant)
    live = g != 0
    negative = ((alpha < 0) & live).flatten(2).any(-1).any(0)
    near = ((denom.abs() < 1e-3 * 2 * g.pow(2)) & live).flatten(2).any(-1).any(0)
    channels = live.flatten(2).any(-1).any(0)
    values = alpha[live] if live.any() else alpha.new_zeros(1)
    return Conditioning(int(channels.sum()), int(negative.sum()), int(near.sum()), float(values.min()),
                        float(values.max()))


def _at_least_float32(t: torch.Tensor) -> torch.dtype:
    return torch.promote_types(t.dtype, torch.float32)


def _wide(t: torch.Tensor) -> torch.dtype:
    """float64 for sums and exponentials, except on Apple's MPS backend, which has no float64."""
    return torch.float32 if t.device.type == "mps" else torch.float64


def gradcampp_weights(activations: torch.Tensor, gradients: torch.Tensor, scores: torch.Tensor | None = None,
                      *, variant: str = "chattopadhay", exp_score: bool | None = None) -> torch.Tensor:
    r"""Grad-CAM++ channel weights (Chattopadhay et al. 2018, Eqs. 19-20), in one of two published forms.

    With :math:`g_{ab} = \partial S/\partial A^k_{ab}`, :math:`w_k = \sum_{ab} \alpha^k_{ab}\,\mathrm{ReLU}(s\, g_{ab})`,
    :math:`\alpha` from :func:`gradcampp_alpha` with :math:`D^2 = g^2, D^3 = g^3` (each form with
    its source's epsilon, :data:`GRADCAMPP_SOURCES`), and

    - ``"chattopadhay"`` (the paper's Eq. 19 as pytorch-grad-cam 1.5.7 computes it): :math:`s = 1`;
    - ``"gradcam-pytorch"`` (1Konny's GradCAM-Pytorch, PyPI ``pytorch-gradcam`` 0.2.1, used by
      Austerjost et al. 2021; MONAI's form too): the per-pixel sum :math:`\sum_{ij} A_{ij} g_{ij}^3`
      and :math:`s = \exp(S)`.

    The two agree only where the gradient is spatially constant (the last block before global
    average pooling and a linear head); at an inner layer they differ, and the second is
    ill-conditioned (:func:`gradcampp_conditioning`). :math:`\exp(S)` is one positive factor per
    sample, so it scales the raw map and cancels in min-max (whose floor is relative, see
    :func:`minmax`). The source computes it in float32, where it overflows above S = 88 (NaN
    map) and underflows below S = -103 (blank map); we compute that form in float64 (float32 on
    MPS, where an overflow raises), which differs from the source only there. Everything else is
    computed in at least float32: :math:`g^3` underflows float16 for :math:`|g| < 4\cdot10^{-3}`.
    ``exp_score`` overrides the form's :math:`s`.

    Args:
        activations, gradients: (N, C, *S).
        scores: (N,) target scores; required when :math:`s = \exp(S)`.
    Returns:
        (N, C) weights, float32 or float64. Used in chapters 01_foam (gradcam-pytorch), 04_steel_defects
        and 05_feature_cam.
    """
    check_one_of("variant", variant, GRADCAMPP_VARIANTS)
    dims = spatial_dims(gradients)
    use_exp = (variant == "gradcam-pytorch") if exp_score is None else exp_score
    dtype = _wide(gradients) if use_exp else _at_least_float32(gradients)
    g, a = gradients.to(dtype), activations.to(dtype)
    alpha = gradcampp_alpha(a, g.pow(2), g.pow(3), variant)
    if use_exp:
        if scores is None:
            raise ValueError("the exp(score) form needs the target scores")
        scale = torch.exp(scores.detach().to(dtype)).reshape(-1, *([1] * (g.ndim - 1)))
        if not torch.isfinite(scale).all():
            raise ValueError(f"Grad-CAM++'s exp(score) overflows {dtype} for scores up to "
                             f"{float(scores.max()):.1f}: use exp_score=False (same map after min-max)")
        return (alpha * F.relu(scale * g)).sum(dim=dims)
    return (alpha * F.relu(g)).sum(dim=dims)


def smooth_gradcampp_weights(activations: torch.Tensor, d1: torch.Tensor, d2: torch.Tensor, d3: torch.Tensor,
                             *, variant: str = "gradcam-pytorch") -> torch.Tensor:
    r"""Smooth Grad-CAM++ channel weights (Omeiza et al. 2019, Eqs. 5-7).

    :math:`D^k = \frac1n \sum_i (\partial S/\partial A)^k\big|_{x+\epsilon_i}` are the first-, second-
    and third-order gradient terms averaged over n noisy copies; then
    :math:`w_c = \sum_{ab} \alpha_{ab} \mathrm{ReLU}(D^1_{ab})` with :math:`\alpha` from
    :func:`gradcampp_alpha` in the chosen form, with that form's epsilon (Omeiza et al.'s equation
    has :math:`(\sum A) D^3_{ab}`, ``"chattopadhay"``; torch-cam 0.5.0's code uses the per-pixel sum,
    adds 1e-8, and weights by the last copy's gradient instead of :math:`D^1`). This is not the average of n finished
    Grad-CAM++ maps (the Feature CAM paper's Eq. 6). Computed in at least float32.

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


def minmax(maps: torch.Tensor, rel: float = 16.0) -> torch.Tensor:
    """Per-sample min-max normalisation of (N, *S) maps to [0, 1]; a constant map becomes zeros.

    A map counts as constant when its range is at most ``rel`` float epsilons of its largest
    magnitude (``hi - lo <= rel * eps * max(|lo|, |hi|)``): that is rounding noise on a constant,
    and scaling it up would show noise. The floor is relative, so a map whose values are all tiny
    but really vary (a CAM scaled by exp(S) with S = -40, about 4e-18) is normalised like any other.
    NaN or infinite values raise: they would otherwise turn the whole map into zeros.
    """
    check_finite(maps, "maps to normalise")
    flat = maps.reshape(maps.shape[0], -1)
    lo = flat.min(1, keepdim=True).values
    hi = flat.max(1, keepdim=True).values
    span = hi - lo
    eps = torch.finfo(flat.dtype).eps if flat.dtype.is_floating_point else torch.finfo(torch.float32).eps
    varies = span > rel * eps * torch.maximum(lo.abs(), hi.abs())
    out = (flat - lo) / torch.where(varies, span, torch.ones_like(span))
    out = torch.where(varies, out, torch.zeros_like(out))
    return out.reshape(maps.shape)
