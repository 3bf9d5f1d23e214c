"""Where a saliency map puts its mass, measured against a known region."""
from __future__ import annotations

import torch


def energy_inside(maps: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    r"""Share of each map's total (non-negative) mass inside a binary mask.

    :math:`E = \sum_{p \in M} s_p / \sum_p s_p` (the energy-based pointing game of Wang et al.
    2020). Negative values are clipped to zero first. An all-zero map scores 0 (it points
    nowhere); an empty mask scores 0 (there is nothing to hit), never 1.

    Args:
        maps: (N, *S) saliency maps.
        masks: (N, *S) booleans (or 0/1).
    Returns:
        (N,) shares in [0, 1]. Used in chapter 01_foam (interface energy).
    """
    if maps.shape != masks.shape:
        raise ValueError(f"maps {tuple(maps.shape)} and masks {tuple(masks.shape)} differ in shape")
    if not torch.isfinite(maps).all():
        raise ValueError("maps contain NaN or infinite values; fix the saliency method (a NaN weight or "
                         "input) before scoring them")
    s = maps.clamp_min(0).reshape(maps.shape[0], -1).double()
    m = masks.reshape(masks.shape[0], -1).bool()
    total = s.sum(1)
    inside = (s * m).sum(1)
    return torch.where(total > 0, inside / total.clamp_min(1e-300), torch.zeros_like(total)).float()
