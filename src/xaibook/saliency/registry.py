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


#: what each registered method computes, in one line, before its options are filled in
_DEFINITIONS = {
    "gradcam": "Selvaraju et al. 2020: channel weights = spatial mean of the gradient at the layer",
    "vanillagrad": "Simonyan et al. 2014: gradient of the target score w.r.t. the input",
    "deeplift": "Shrikumar et al. 2017: DeepLift rescale rule against a {baseline} baseline",
    "scorecam": "Wang et al. 2020: channel weights = softmax score of the input masked by each upsampled channel",
    "occlusion": "Zeiler & Fergus 2014: score drop when a sliding patch is replaced",
    "lime": "Ribeiro et al. 2016: a linear surrogate fitted on superpixels switched off at random",
}


def describe(name: str, **options: Any) -> str:
    """What the registered method ``name`` computes with ``options``, in one line: its paper, its
    formula variant and source (Grad-CAM++'s form, :data:`xaibook.saliency._core.GRADCAMPP_SOURCES`),
    and its sampling settings. Every chapter's method table is built from it, so the book names
    the variant the code runs, from the code. Used in every chapter.
    """
    from ._core import GRADCAMPP_SOURCES

    cls = METHODS.get(name)                      # refuses an unknown name
    if name == "gradcampp":
        return GRADCAMPP_SOURCES[options.get("variant", "chattopadhay")]
    if name == "smoothgradcampp":
        form = GRADCAMPP_SOURCES[options.get("variant", "gradcam-pytorch")].split(":")[0]
        return (f"Omeiza et al. 2019: g, g^2, g^3 at the layer averaged over n = {options.get('n_samples', 50)} noisy "
                f"copies (sigma = {options.get('noise', 0.1)} x input range), then one Grad-CAM++ map with alpha "
                f"in the form of {form}")
    if name == "smoothgrad":
        inner = options.get("method", "vanillagrad")
        rest = {k: v for k, v in options.items()
                if k not in ("method", "n_samples", "noise", "batch_size", "seed", "absolute")}
        what = "absolute values of finished" if options.get("absolute") else "finished"
        return (f"Smilkov et al. 2017: the mean of {what} {METHODS.get(inner).name} maps over "
                f"n = {options.get('n_samples', 50)} noisy copies (sigma = {options.get('noise', 0.02)} x input "
                f"range); {inner}: {describe(inner, **rest)}")
    if name not in _DEFINITIONS:
        raise KeyError(f"no definition written for registered method {name!r} ({cls.__name__}): add it to "
                       f"xaibook.saliency.registry._DEFINITIONS")
    return _DEFINITIONS[name].format(baseline=options.get("baseline", "zero"))
