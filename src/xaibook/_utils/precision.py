"""Floating-point precision policy: in which dtype sums of many terms are accumulated.

Saliency maps are sums of many terms (noisy copies, occlusion windows, masked-input scores,
channels). Accumulated in float16 or bfloat16 (8 significant bits), such a sum loses digits with
every term, so the methods accumulate in :func:`at_least_float32` of their inputs' dtype and
return maps in the inputs' dtype. Sums that must keep more digits than float32 holds use
:func:`accumulation_dtype`, which is float64 except on Apple's MPS backend (which has no float64).
"""
from __future__ import annotations

import torch

#: floating-point dtypes with fewer significant bits than float32
LOW_PRECISION = (torch.float16, torch.bfloat16)


def at_least_float32(dtype: torch.dtype) -> torch.dtype:
    """``dtype`` promoted to at least float32: float16/bfloat16 (and integers) -> float32, float64 kept."""
    return torch.promote_types(dtype, torch.float32)


def accumulation_dtype(device: torch.device | str) -> torch.dtype:
    """The widest floating dtype on ``device``: float64, or float32 on MPS (which has no float64)."""
    return torch.float32 if torch.device(device).type == "mps" else torch.float64


def compute_dtype(x: torch.Tensor) -> torch.dtype:
    """The dtype a model fed ``x`` computes in: autocast's dtype while autocast is enabled for
    ``x``'s device type, else ``x``'s own dtype. Used to name the dtype in error messages."""
    if torch.is_autocast_enabled(x.device.type):
        return torch.get_autocast_dtype(x.device.type)
    return x.dtype


def is_low_precision(dtype: torch.dtype) -> bool:
    """True for float16 and bfloat16."""
    return dtype in LOW_PRECISION
