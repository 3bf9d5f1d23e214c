r"""Pointing games: how much of a saliency map's mass lies on, or near, a labelled defect.

Two scores of Lorentz et al. 2021 (Sect. 4.1), both pure functions of (N, *S) maps and masks:

* the energy-based pointing game of Wang et al. 2020 (Score-CAM, localisation evaluation),
  :math:`E = \sum_{p \in M} s_p / \sum_p s_p`, blind to where the outside mass lies;
* the paper's distance pointing game, which charges outside mass in proportion to its distance
  from the defect, :math:`D = \sum_{p \in M} s_p / (\sum_{p \in M} s_p + \sum_p s_p\, d_p)`.

No public code of the distance game exists (FACTS.md); this follows the paper's text. Both games
share one convention for the edge cases, so their medians are taken over the same samples:

* empty mask (no defect): the score is undefined and returned as NaN, never a hit (Quantus'
  PointingGame counts an empty mask as a hit). Aggregate with ``torch.nanmedian`` or drop them;
  the paper scored defective samples only.
* all-zero map on a non-empty mask: 0 (the map points nowhere), not NaN, so a method that
  returns blank maps is penalised instead of silently leaving the median.
* negative map values are clipped to zero first (the ReLU variant of the paper's normalisation,
  as :func:`~xaibook.metrics.energy_inside` does); NaN or infinite values raise.

Both scores are invariant to multiplying a map by a positive constant, so the min-max scaling of
Eq. 1 matters only through its shift (subtracting the minimum).
"""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import torch
from scipy import ndimage

from .._utils.precision import accumulation_dtype
from .localisation import check_maps_and_masks as _check
from .localisation import check_masks as _check_masks
from .localisation import energy_inside


def distance_mask(masks: torch.Tensor) -> torch.Tensor:
    r"""Euclidean distance of every pixel to the nearest defect pixel, divided by the image diagonal.

    The distance mask of the distance pointing game (Lorentz et al. 2021, Sect. 4.1, with the
    min-max scaling of Eq. 1: minimum 0 inside the defect, maximum set to the diagonal):
    :math:`d_p = \min_{q \in M} \lVert p - q \rVert_2 \,/\, \lVert S \rVert_2`, where
    :math:`\lVert S \rVert_2` is the norm of the spatial shape (``sqrt(H**2 + W**2)`` for images,
    ``sqrt(T**2 + H**2 + W**2)`` for videos, where one frame counts as one pixel of distance).
    Pixel centres are at most ``sqrt((H-1)**2 + (W-1)**2)`` apart, so values stay below 1.
    Computed exactly on the CPU (``scipy.ndimage.distance_transform_edt``).

    Args:
        masks: (N, *S) booleans (or 0/1), True on the defect.
    Returns:
        (N, *S) distances in [0, 1) on the masks' device, float64 (float32 on Apple's MPS, which
        has no float64); all NaN for a sample whose mask is empty (no defect to measure from).
        Used in chapter 04_steel_defects.
    """
    _check_masks(masks)
    m = masks.detach().cpu().numpy().astype(bool)
    diagonal = math.hypot(*m.shape[1:])
    out = np.full(m.shape, np.nan)
    for i, mi in enumerate(m):
        if mi.any():
            # edt gives each nonzero element its distance to the nearest zero: invert the mask
            out[i] = ndimage.distance_transform_edt(~mi) / diagonal
    return torch.from_numpy(out).to(device=masks.device, dtype=accumulation_dtype(masks.device))


def _empty(masks: torch.Tensor) -> torch.Tensor:
    return ~masks.reshape(masks.shape[0], -1).bool().any(1)


def distance_pointing_game(maps: torch.Tensor, masks: torch.Tensor, distances: torch.Tensor | None = None) -> torch.Tensor:
    r"""The distance pointing game of Lorentz et al. 2021 (Sect. 4.1), one score per sample.

    :math:`D = \frac{\sum_p s_p m_p}{\sum_p s_p m_p + \sum_p s_p d_p}` with saliency :math:`s \ge 0`,
    binary defect mask :math:`m` and distance mask :math:`d` (:func:`distance_mask`). The
    numerator is the inside energy of Wang et al.'s game; the outside energy weighs each
    pixel's mass by its normalised distance to the defect, so mass next to a defect costs little
    and mass far away costs up to its full value. Since :math:`d < 1`, :math:`D \ge E` (the
    energy game). With no mass inside the defect the score is 0 however close the mass lies.

    Edge cases: an empty mask gives NaN (undefined, never a hit); an all-zero map gives 0; a
    map entirely inside the defect gives 1. Negative values are clipped to zero; NaN or infinite
    values raise. Maps are expected normalised to [0, 1] (Eq. 1), but the score is invariant to
    positive scaling.

    Args:
        maps: (N, *S) saliency maps, images (N, H, W) or videos (N, T, H, W).
        masks: (N, *S) booleans (or 0/1), True on the defect.
        distances: ``distance_mask(masks)`` when already computed (a benchmark scores many maps
            against the same masks; the distance transform dominates the cost).
    Returns:
        (N,) float32 scores in [0, 1], NaN where the mask is empty. Used in chapter 04_steel_defects.
    """
    _check(maps, masks)
    # sums over every pixel, in float64 (float32 on MPS, which has no float64)
    s = maps.detach().to(accumulation_dtype(maps.device)).clamp_min(0).reshape(maps.shape[0], -1)
    m = masks.reshape(masks.shape[0], -1).bool().to(s.device)
    d = (distance_mask(masks) if distances is None else distances).reshape(masks.shape[0], -1)
    d = d.to(device=s.device, dtype=s.dtype)
    inside = (s * m).sum(1)
    outside = (s * d.nan_to_num(0.0)).sum(1)
    denominator = inside + outside
    tiny = torch.finfo(s.dtype).tiny
    score = torch.where(denominator > 0, inside / denominator.clamp_min(tiny), torch.zeros_like(inside))
    return score.masked_fill(_empty(masks).to(s.device), math.nan).float()


def energy_pointing_game(maps: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    r"""The energy-based pointing game of Wang et al. 2020 (Score-CAM), one score per sample.

    :math:`E = \sum_p s_p m_p \,/\, \sum_p s_p`, as cited by Lorentz et al. 2021 (Sect. 4.1):
    the share of the map's mass inside the defect, whatever the distance of the rest. Computed
    by :func:`~xaibook.metrics.energy_inside`; only the empty mask differs: NaN here (as in
    :func:`distance_pointing_game`, so both games drop the same samples) where
    ``energy_inside`` returns 0. An all-zero map gives 0, negative values are clipped to zero,
    NaN or infinite values raise.

    Args:
        maps: (N, *S) saliency maps.
        masks: (N, *S) booleans (or 0/1), True on the defect.
    Returns:
        (N,) float32 scores in [0, 1], NaN where the mask is empty. Used in chapter 04_steel_defects.
    """
    _check(maps, masks)
    score = energy_inside(maps.detach(), masks)
    return score.masked_fill(_empty(masks).to(score.device), math.nan)


class PointingGameParts(NamedTuple):
    """The panels of Lorentz et al. 2021, Fig. 4, and the two scores, as numpy arrays of shape S."""

    mask: np.ndarray  # (a) defect mask, 0/1
    distance: np.ndarray  # (b) distance mask
    saliency: np.ndarray  # (c) saliency map, negative values clipped
    inside: np.ndarray  # (d) defect mask x saliency
    outside: np.ndarray  # (e) distance mask x saliency
    distance_score: float
    energy_score: float


def pointing_game_parts(saliency: torch.Tensor, mask: torch.Tensor) -> PointingGameParts:
    r"""The intermediate arrays of both pointing games for one sample, to draw Fig. 4.

    Lorentz et al. 2021, Fig. 4: (a) defect mask :math:`m`, (b) distance mask :math:`d`,
    (c) saliency :math:`s`, (d) :math:`m \cdot s`, (e) :math:`d \cdot s`. The distance score is
    ``inside.sum() / (inside.sum() + outside.sum())``, as in :func:`distance_pointing_game`.

    Args:
        saliency: (*S) one map (no batch axis).
        mask: (*S) booleans (or 0/1).
    Returns:
        :class:`PointingGameParts` of float64 arrays of shape S (NaN distances for an empty
        mask) and both scores. Used in chapter 04_steel_defects.
    """
    saliency, mask = saliency[None], mask[None]
    _check(saliency, mask)
    s = saliency.detach().cpu().double().clamp_min(0)[0].numpy()  # to the CPU first: MPS has no float64
    m = mask.detach().bool().cpu()[0].numpy().astype(float)
    d = distance_mask(mask).cpu()[0].numpy()
    return PointingGameParts(mask=m, distance=d, saliency=s, inside=m * s, outside=d * s,
                             distance_score=float(distance_pointing_game(saliency, mask)[0]),
                             energy_score=float(energy_pointing_game(saliency, mask)[0]))


def constructed_example(shape: tuple[int, int] = (64, 96)) -> tuple[torch.Tensor, torch.Tensor]:
    """A saliency map and a defect mask in the spirit of Lorentz et al. 2021, Fig. 4.

    The defect is a horizontal band (a scratch); the map has a strong blob centred on the
    band's right end, half on the defect and half next to it, and a weaker blob far away in a
    corner, so panel (e) shows that far mass costs more than near mass.

    Args:
        shape: (H, W) of the example.
    Returns:
        (H, W) float32 map in [0, 1] and (H, W) boolean mask. Used in chapter 04_steel_defects.
    """
    h, w = shape
    mask = torch.zeros(h, w, dtype=torch.bool)
    mask[3 * h // 8: 5 * h // 8, w // 4: w // 2] = True
    yy, xx = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32),
                            indexing="ij")

    def blob(cy: float, cx: float, sigma: float) -> torch.Tensor:
        return torch.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * sigma**2))

    saliency = blob(h / 2, w / 2, h / 8) + 0.5 * blob(h / 6, 0.85 * w, h / 12)
    return saliency / saliency.max(), mask
