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
    """The logit of each sample's predicted class (the default target)."""
    return logits.gather(1, logits.argmax(1, keepdim=True))[:, 0]
