"""Targets map a model's output to one score per sample (STYLE 5).

A target is any callable ``(logits: (N, K)) -> (N,)``. Images and videos, binary and
multi-class models share one code path through it.
"""
from __future__ import annotations

from typing import Callable, Sequence

import torch

Target = Callable[[torch.Tensor], torch.Tensor]


def class_score(classes: int | Sequence[int] | torch.Tensor) -> Target:
    """The logit of a fixed class, or of one class per sample."""

    def target(logits: torch.Tensor) -> torch.Tensor:
        idx = torch.as_tensor(classes, device=logits.device).long()
        if idx.ndim == 0:
            return logits[:, idx]
        if idx.shape[0] != logits.shape[0]:
            raise ValueError(f"got {idx.shape[0]} target classes for a batch of {logits.shape[0]}")
        return logits.gather(1, idx[:, None])[:, 0]

    return target


def predicted_class(logits: torch.Tensor) -> torch.Tensor:
    r"""The score of each sample's predicted class (the default target), (N, K) -> (N,).

    K >= 2 (softmax model): the largest logit, :math:`z_{\arg\max_k z_k}`.
    K = 1 (one sigmoid logit z, as in chapter 03_lung_sliding's models): the predicted class is
    positive where :math:`z > 0` (probability above 0.5) and negative otherwise, and its score is
    the logit of that class, :math:`z` for a positive and :math:`-z` for a negative prediction
    (:math:`\mathrm{logit}(1 - \sigma(z)) = -z`), i.e. :math:`|z|` with gradient :math:`\pm 1`.
    A map of a negative prediction therefore shows the evidence for "negative", as a two-logit
    model's would; returning z itself would explain the positive class whatever the model said.
    At exactly z = 0 the prediction counts as negative (as ``argmax`` picks the first of two equal
    logits). Linear in the logits, so methods that freeze the class (:func:`frozen`) accept it.
    """
    if logits.ndim != 2 or logits.shape[1] < 1:
        raise ValueError(f"predicted_class expects (N, K) logits with K >= 1, got shape {tuple(logits.shape)}")
    if logits.shape[1] == 1:
        z = logits[:, 0]
        return torch.where(z > 0, z, -z)
    return logits.gather(1, logits.argmax(1, keepdim=True))[:, 0]


def target_scores(target: Target, logits: torch.Tensor, n: int) -> torch.Tensor:
    """``target(logits)``, checked to give one score per sample (n of them)."""
    scores = target(logits)
    if scores.shape != (n,):
        raise ValueError(f"target must return one score per sample, got shape {tuple(scores.shape)} for {n} samples")
    return scores


def class_selection(target: Target, logits: torch.Tensor) -> torch.Tensor:
    r"""The (N, K) weights :math:`g = \partial\,\mathrm{target}/\partial z` of a linear target.

    Checks that ``target(z) == (g * z).sum(1)``, i.e. that the target picks (a linear combination
    of) logits, so that it can be applied to other outputs with its choice of class frozen.

    Args:
        logits: (N, K) logits of the clean inputs.
    Returns:
        (N, K) selection weights, detached. Used by Score-CAM, SmoothGrad and Smooth Grad-CAM++.
    """
    z = logits.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        scores = target_scores(target, z, z.shape[0])
        (g,) = torch.autograd.grad(scores.sum(), z, allow_unused=True)
    g = torch.zeros_like(z) if g is None else g
    # compared in float64: under autocast the logits may be float16/bfloat16 and the target's scores float32
    rtol = max(1e-4, 4 * torch.finfo(z.dtype).eps)
    if not torch.allclose(scores.detach().double(), (g.double() * z.detach().double()).sum(1), rtol=rtol, atol=1e-6):
        raise ValueError("this method needs a target that selects (a linear combination of) logits, such as "
                         "class_score or predicted_class; got a nonlinear target")
    return g.detach()


def frozen(target: Target, logits: torch.Tensor) -> Target:
    """``target`` with its choice of class fixed at the clean input's ``logits`` (N, K).

    ``predicted_class`` evaluated on a noisy copy may pick another class than on the clean
    input, so one averaged map would mix classes; the frozen target scores every copy on the
    clean input's class. It applies to any batch of N rows (one copy of each input sample).
    """
    selection = class_selection(target, logits)

    def fixed(z: torch.Tensor) -> torch.Tensor:
        if z.shape != selection.shape:
            raise ValueError(f"a frozen target scores batches of {tuple(selection.shape)} logits, got {tuple(z.shape)}")
        return (selection.to(z.dtype) * z).sum(1)

    return fixed
