r"""Explanation-map metrics: does keeping only what a map highlights keep the model's confidence?

Chattopadhay et al. 2018 (Grad-CAM++, Sect. 5.1) multiply the image by its map,
:math:`E^c = I \circ L^c`, and compare the model's confidence (the softmax probability of class c)
on :math:`E^c`, :math:`O_c`, with that on the image, :math:`Y_c`:

* Average Drop %: :math:`\frac{1}{N}\sum_i \max(0, Y^i_c - O^i_c) / Y^i_c \cdot 100` (lower is better);
* % Increase in Confidence: :math:`\frac{1}{N}\sum_i \mathbb 1[Y^i_c < O^i_c] \cdot 100` (higher is better).

pytorch-grad-cam's ``DropInConfidence`` is :math:`\max(0, Y_c - O_c)` without the division, so
its average is not the paper's Average Drop %; ours divides. Functions return one value per
sample (aggregate with the mean). Compared by chapter 05_feature_cam.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from .._utils.hooks import eval_mode


def _check_confidences(before: torch.Tensor, after: torch.Tensor) -> None:
    if before.shape != after.shape or before.ndim != 1:
        raise ValueError(f"expected two (N,) confidences of one shape, got {tuple(before.shape)} and {tuple(after.shape)}")
    for name, t in (("before", before), ("after", after)):
        if not torch.isfinite(t).all():
            raise ValueError(f"confidences {name} contain NaN or infinite values")
        if (t < 0).any() or (t > 1).any():
            raise ValueError(f"confidences {name} must be probabilities in [0, 1] (softmax of the target class)")
    if (before == 0).any():
        raise ValueError("a confidence before masking is 0: the drop relative to it is undefined")


def average_drop(before: torch.Tensor, after: torch.Tensor) -> torch.Tensor:
    r"""Per-sample drop :math:`\max(0, Y_c - O_c) / Y_c \cdot 100` (%); its mean is Average Drop %."""
    _check_confidences(before, after)
    return 100 * (before - after).clamp_min(0) / before


def increase_in_confidence(before: torch.Tensor, after: torch.Tensor) -> torch.Tensor:
    r"""Per-sample :math:`\mathbb 1[Y_c < O_c] \cdot 100`; its mean is % Increase in Confidence."""
    _check_confidences(before, after)
    return 100 * (after > before).to(before.dtype)


def masked_confidence(model: nn.Module, images: torch.Tensor, maps: torch.Tensor, classes: torch.Tensor,
                      *, preprocess: Callable[[torch.Tensor], torch.Tensor] | None = None,
                      batch_size: int = 64) -> torch.Tensor:
    r"""Softmax probability of ``classes`` on the explanation map :math:`E = I \circ L` (N,).

    The product is taken in [0, 1] pixel space, where 0 is black: where the map is 0 the image
    becomes black, as Chattopadhay et al. mean it. Multiplying *normalised* model inputs instead
    would turn masked pixels into the dataset's mean colour (0 after normalisation), a different
    and milder perturbation. ``preprocess`` then takes the masked images to the model's input
    (e.g. ImageNet normalisation, a move to the model's device), as the chapter's classifiers
    expect.

    Args:
        model: classifier returning (N, K) logits for ``preprocess(images)``.
        images: (N, C, *S) images in [0, 1] (not normalised).
        maps: (N, *S) in [0, 1], broadcast over channels.
        classes: (N,) target classes.
        preprocess: applied to each masked batch before the model; identity when None (a model
            that takes [0, 1] images).
        batch_size: images per forward pass (the values do not depend on it beyond float rounding).
    Returns:
        (N,) probabilities on the images' device. The model runs in eval mode and is left as it
        came. Used in chapter 05_feature_cam (Average Drop %, Increase in Confidence %).
    Raises:
        ValueError: shapes disagree, maps or images are not finite or leave [0, 1] (normalised
            images: pass the [0, 1] images and the normalisation as ``preprocess``).
    """
    if maps.shape != images.shape[:1] + images.shape[2:]:
        raise ValueError(f"maps {tuple(maps.shape)} must have the images' (N, *S) shape {tuple(images.shape[:1] + images.shape[2:])}")
    if not torch.isfinite(maps).all() or (maps < 0).any() or (maps > 1).any():
        raise ValueError("maps must be finite and in [0, 1] (min-max normalise them first)")
    if not torch.isfinite(images).all() or (images < 0).any() or (images > 1).any():
        raise ValueError("images must be finite and in [0, 1] pixel space, where 0 is black: pass the "
                         "un-normalised images and the model's normalisation as preprocess=")
    if classes.shape != images.shape[:1]:
        raise ValueError(f"classes {tuple(classes.shape)} must hold one class per image, shape ({images.shape[0]},)")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    out = []
    with eval_mode(model), torch.no_grad():
        for i in range(0, len(images), batch_size):
            x = images[i:i + batch_size] * maps[i:i + batch_size].unsqueeze(1)
            p = model(x if preprocess is None else preprocess(x)).softmax(1)
            out.append(p.gather(1, classes[i:i + batch_size, None].to(p.device).long())[:, 0].to(images.device))
    return torch.cat(out)
