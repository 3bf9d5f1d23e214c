"""Where a saliency map puts its mass, measured against a known region."""
from __future__ import annotations

import torch

from .._utils.precision import accumulation_dtype


def check_masks(masks: torch.Tensor) -> None:
    """Refuse ``masks`` that are not (N, *S) booleans or 0/1 values (a soft or 0-255 mask would
    otherwise be binarised silently by ``.bool()``)."""
    if masks.ndim < 2:
        raise ValueError(f"masks: expected (N, *S) masks with at least one spatial axis, got shape "
                         f"{tuple(masks.shape)}")
    if masks.dtype != torch.bool and not ((masks == 0) | (masks == 1)).all():
        raise ValueError(f"masks must be boolean or hold only 0 and 1, got {masks.dtype} values outside "
                         f"{{0, 1}}; binarise the ground truth first")


def check_maps_and_masks(maps: torch.Tensor, masks: torch.Tensor) -> None:
    """Refuse (N, *S) ``maps`` and ``masks`` of different shapes, bad masks (:func:`check_masks`)
    and maps with NaN or infinite values. Shared with the pointing games."""
    if maps.shape != masks.shape:
        raise ValueError(f"maps {tuple(maps.shape)} and masks {tuple(masks.shape)} differ in shape: every map "
                         f"needs a mask of the same (N, *S) shape (resize one to the other first)")
    check_masks(masks)
    if not torch.isfinite(maps).all():
        raise ValueError("maps contain NaN or infinite values; fix the saliency method (a NaN weight or "
                         "input) or normalise the maps (xaibook.saliency.minmax) before scoring them")


def energy_inside(maps: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    r"""Share of each map's total (non-negative) mass inside a binary mask.

    :math:`E = \sum_{p \in M} s_p / \sum_p s_p` (the energy-based pointing game of Wang et al.
    2020). Negative values are clipped to zero first. An all-zero map scores 0 (it points
    nowhere); an empty mask scores 0 (there is nothing to hit), never 1.

    Args:
        maps: (N, *S) saliency maps, finite.
        masks: (N, *S) booleans (or 0/1 of any dtype), on any device: moved to the maps' device.
    Returns:
        (N,) float32 shares in [0, 1] on the maps' device. Used in chapter 01_foam (interface energy).
    Raises:
        ValueError: shapes differ, a mask holds values other than 0 and 1, or a map is not finite.
    """
    check_maps_and_masks(maps, masks)
    masks = masks.to(maps.device)
    # sums over every pixel, in float64 (float32 on MPS, which has no float64)
    s = maps.clamp_min(0).reshape(maps.shape[0], -1).to(accumulation_dtype(maps.device))
    m = masks.reshape(masks.shape[0], -1).bool()
    total = s.sum(1)
    inside = (s * m).sum(1)
    tiny = torch.finfo(s.dtype).tiny
    return torch.where(total > 0, inside / total.clamp_min(tiny), torch.zeros_like(total)).float()
