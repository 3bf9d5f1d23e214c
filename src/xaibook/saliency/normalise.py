r"""The six saliency-map normalisations of Lorentz et al. 2021 (Sect. 4, Eq. 1, Table 3).

A name is ``"<rectifier>-<cap>"``: the rectifier is ``All`` (keep signs), ``Abs`` (absolute value)
or ``ReLU`` (negative values set to 0); then each map is min-max scaled to [0, 1] (Eq. 1) with the
maximum taken as the true maximum (``100``) or the 99th percentile (``99``, values above it clip
to 1). The minimum is always the true minimum: the paper caps only the top to remove outliers.
Pure functions on (N, *S) tensors. Used in chapter 04_steel_defects.
"""
from __future__ import annotations

import torch

NORMALISATIONS = ("All-100", "Abs-100", "ReLU-100", "All-99", "Abs-99", "ReLU-99")

_RECTIFIERS = {"All": lambda m: m, "Abs": torch.abs, "ReLU": lambda m: m.clamp_min(0)}


def percentile(flat: torch.Tensor, q: float) -> torch.Tensor:
    """Per-row q-th percentile of (N, P) values, linear interpolation (numpy's default method).

    Sort-based, so unlike ``torch.quantile`` it has no input-size limit. Returns (N, 1).
    """
    p = flat.shape[1]
    pos = q / 100 * (p - 1)
    lo = int(pos)
    hi = min(lo + 1, p - 1)
    s = flat.sort(1).values
    return (s[:, lo] + (pos - lo) * (s[:, hi] - s[:, lo]))[:, None]


def normalise(maps: torch.Tensor, name: str) -> torch.Tensor:
    r"""Rectify and min-max scale each map (Lorentz et al. 2021, Eq. 1 and Table 3).

    :math:`\hat x = \mathrm{clip}\big((r(x) - \min r(x)) / (q - \min r(x)),\, 0,\, 1\big)` with
    :math:`r` the rectifier (identity, :math:`|\cdot|` or ReLU) and :math:`q` the maximum (100) or the
    99th percentile (99) of :math:`r(x)` over the sample. When :math:`q = \min r(x)` (a constant map, or
    one whose top 1 % alone differs) the map becomes :math:`[r(x) > \min r(x)]`: zeros for a constant
    map, never NaN.

    Args:
        maps: (N, *S) raw saliency maps, images (N, H, W) or videos (N, T, H, W).
        name: one of :data:`NORMALISATIONS`.
    Returns:
        (N, *S) maps in [0, 1], floating point. Used in chapter 04_steel_defects.
    """
    if name not in NORMALISATIONS:
        raise ValueError(f"unknown normalisation {name!r}; choose one of {NORMALISATIONS}")
    if maps.ndim < 2:
        raise ValueError(f"expected (N, *S) maps, got shape {tuple(maps.shape)}")
    if not torch.isfinite(maps).all():
        raise ValueError("maps contain NaN or infinite values; fix the saliency method before normalising")
    rectifier, cap = name.split("-")
    flat = _RECTIFIERS[rectifier](maps.detach().reshape(maps.shape[0], -1))
    if not flat.is_floating_point():
        flat = flat.float()
    lo = flat.amin(1, keepdim=True)
    hi = flat.amax(1, keepdim=True) if cap == "100" else percentile(flat, float(cap))
    spread = hi > lo
    scaled = ((flat - lo) / torch.where(spread, hi - lo, torch.ones_like(hi))).clamp(0, 1)
    out = torch.where(spread, scaled, (flat > lo).to(flat.dtype))
    return out.reshape(maps.shape)
