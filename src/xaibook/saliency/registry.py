"""The saliency-method registry (STYLE 3): chapters choose methods by name, with options.

Every entry is a class built as ``METHODS.get(name)(model, target_layer, **options)`` (methods
that need no layer ignore it) and states, as class attributes, its display ``name``, its
``paper`` and its output ``contract``: whether maps are signed or rectified, raw or normalised.
The tests are parametrised over the registry, so a new method is tested without anyone
remembering to add it.
"""
from __future__ import annotations

from typing import Any

from torch import nn

from ..registry import Registry

METHODS: Registry[type] = Registry("saliency method")

#: the output contracts a method may state (its ``contract`` class attribute)
CONTRACTS = {
    "signed": "raw, signed maps (no rectification, no scaling): normalise them with xaibook.saliency.normalise",
    "cam": "rectified and min-max scaled to [0, 1] by default; relu=False and normalize=False give the raw, "
           "signed weighted sum",
    "wrapped": "the wrapped method's maps, averaged over noisy copies (same contract as the wrapped method)",
}


def build_method(name: str, model: nn.Module, target_layer: nn.Module | None = None, **options: Any):
    """``METHODS.get(name)(model, target_layer, **options)``: the one way chapters build a method."""
    return METHODS.get(name)(model, target_layer, **options)
