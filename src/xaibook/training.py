"""Supervised training on in-memory image tensors, with the best-validation-loss checkpoint.

Chapters keep their images as uint8 tensors (N, C, *S) in memory: the fast profile's data sets
are small, and this keeps every epoch deterministic on CPU for a given ``torch.Generator``.
"""
from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def to_input(images: torch.Tensor, device: str | torch.device = "cpu") -> torch.Tensor:
    """uint8 (N, 3, *S) -> float (N, 3, *S) normalised with the ImageNet mean and std."""
    x = images.to(device).float().div_(255)
    shape = (1, 3) + (1,) * (x.ndim - 2)
    mean = torch.tensor(IMAGENET_MEAN, device=x.device).reshape(shape)
    std = torch.tensor(IMAGENET_STD, device=x.device).reshape(shape)
    return (x - mean) / std


@dataclass(frozen=True)
class TrainConfig:
    epochs: int
    batch_size: int
    lr: float
    weight_decay: float = 0.0
    class_weights: tuple[float, ...] | None = None
    hflip: bool = True
    device: str = "cpu"
    lr_step: int | None = None                    # StepLR: multiply the rate by lr_gamma every lr_step epochs
    lr_gamma: float = 0.1
    rotate: bool = False                          # random multiples of 90 degrees (top-view images, chapter 02)
    class_repeats: tuple[float, ...] | None = None   # per-class draws per epoch (augment a class more often)
    max_steps: int | None = None                  # optimiser steps per epoch at most (a smoke run: 1)


@dataclass
class TrainResult:
    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    best_epoch: int = -1
    seconds: float = 0.0
    samples_seen: int = 0

    @property
    def throughput(self) -> float:
        return self.samples_seen / self.seconds if self.seconds else float("nan")


def _loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor, weight: torch.Tensor | None) -> torch.Tensor:
    return F.cross_entropy(model(x), y, weight=weight)


@torch.no_grad()
def evaluate_loss(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, cfg: TrainConfig,
                  weight: torch.Tensor | None = None) -> float:
    """Mean cross-entropy over a set (same class weights as training, in eval mode)."""
    was = model.training
    model.eval()
    total, n = 0.0, 0
    for i in range(0, len(images), 2 * cfg.batch_size):
        x = to_input(images[i:i + 2 * cfg.batch_size], cfg.device)
        y = labels[i:i + 2 * cfg.batch_size].to(cfg.device)
        logits = model(x)
        # weighted CE is a weighted mean; accumulate numerator and denominator separately
        w = torch.ones_like(y, dtype=torch.float) if weight is None else weight[y]
        total += float((F.cross_entropy(logits, y, reduction="none") * w).sum())
        n += float(w.sum())
    model.train(was)
    return total / n


def epoch_order(labels: torch.Tensor, repeats: tuple[float, ...] | None, generator: torch.Generator) -> torch.Tensor:
    """The sample indices of one epoch, shuffled.

    Without ``repeats`` a permutation of all samples. With them, class c contributes
    ``repeats[c]`` draws per sample: the integer part as whole copies, the fraction as a random
    subset, so ``(1.0, 1.5)`` shows every sample of class 0 once and those of class 1 once or
    twice (1.5 times on average). With random augmentation each copy is a new view: this is how
    Kierdorf & Roscher 2023 (Sect. 2.2) augment not-ready images 50% more often (chapter 02).
    """
    if repeats is None:
        return torch.randperm(len(labels), generator=generator)
    if len(repeats) <= int(labels.max()):
        raise ValueError(f"class_repeats={repeats} has no entry for class {int(labels.max())}")
    parts = []
    for c, r in enumerate(repeats):
        idx = torch.nonzero(labels == c).flatten()
        whole, frac = int(r), r - int(r)
        parts += [idx] * whole
        if frac > 0:
            parts.append(idx[torch.randperm(len(idx), generator=generator)[:int(round(frac * len(idx)))]])
    order = torch.cat(parts) if parts else torch.empty(0, dtype=torch.long)
    return order[torch.randperm(len(order), generator=generator)]


def augment(x: torch.Tensor, cfg: TrainConfig, generator: torch.Generator) -> torch.Tensor:
    """Random horizontal flips (p = 0.5) and, with ``cfg.rotate``, random quarter turns, in place per sample."""
    if cfg.hflip:
        flip = torch.rand(len(x), generator=generator) < 0.5
        x[flip.to(x.device)] = x[flip.to(x.device)].flip(-1)
    if cfg.rotate:
        turns = torch.randint(0, 4, (len(x),), generator=generator)
        for k in (1, 2, 3):
            sel = (turns == k).to(x.device)
            x[sel] = torch.rot90(x[sel], k, dims=(-2, -1))
    return x


class NonFiniteLoss(FloatingPointError):
    """Training produced a NaN or infinite loss."""


def check_loss(loss: torch.Tensor, epoch: int, step: int | None) -> None:
    """Stop at once, with the place and the usual causes, when a loss is NaN or infinite."""
    if not bool(torch.isfinite(loss.detach()).all()):
        where = f"epoch {epoch + 1}, " + ("validation" if step is None else f"step {step + 1}")
        raise NonFiniteLoss(f"the {'validation' if step is None else 'training'} loss is {float(loss.detach()):g} at {where}: "
                            f"look for NaN or infinite values in the images or labels, or lower the learning rate; "
                            f"the weights are no longer usable")


def fit(model: nn.Module, train: tuple[torch.Tensor, torch.Tensor], val: tuple[torch.Tensor, torch.Tensor],
        cfg: TrainConfig, generator: torch.Generator) -> TrainResult:
    """Adam + cross-entropy for ``cfg.epochs``; returns the history and loads the best-val-loss weights.

    Random horizontal flips (``cfg.hflip``) flip the last axis of each sample with p = 0.5;
    ``cfg.rotate`` adds quarter turns (square inputs only). ``cfg.class_weights`` weight the loss
    per class (e.g. 0.4 on foam in Austerjost et al.); ``cfg.class_repeats`` draw a class more
    often per epoch (:func:`epoch_order`); ``cfg.lr_step`` decays the rate stepwise (StepLR).
    """
    model.to(cfg.device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = None if cfg.lr_step is None else torch.optim.lr_scheduler.StepLR(opt, cfg.lr_step, cfg.lr_gamma)
    weight = None if cfg.class_weights is None else torch.tensor(cfg.class_weights, device=cfg.device)
    x_train, y_train = train
    result = TrainResult()
    best, best_state = float("inf"), None
    t0 = time.perf_counter()
    for epoch in range(cfg.epochs):
        model.train()
        order = epoch_order(y_train, cfg.class_repeats, generator)
        losses = []
        for i in range(0, len(order), cfg.batch_size):
            idx = order[i:i + cfg.batch_size]
            if len(idx) < 2:      # BatchNorm needs two samples
                continue
            if cfg.max_steps is not None and len(losses) >= cfg.max_steps:
                break
            x = augment(to_input(x_train[idx], cfg.device), cfg, generator)
            y = y_train[idx].to(cfg.device)
            opt.zero_grad(set_to_none=True)
            loss = _loss(model, x, y, weight)
            check_loss(loss, epoch, len(losses))
            loss.backward()
            opt.step()
            losses.append(loss.detach().item())
            result.samples_seen += len(idx)
        if sched is not None:
            sched.step()
        result.train_loss.append(float(np.mean(losses)))
        result.val_loss.append(evaluate_loss(model, *val, cfg, weight))
        check_loss(torch.tensor(result.val_loss[-1]), epoch, None)
        if result.val_loss[-1] < best:
            best, result.best_epoch = result.val_loss[-1], epoch
            best_state = copy.deepcopy(model.state_dict())
    result.seconds = time.perf_counter() - t0
    model.load_state_dict(best_state)
    model.eval()
    return result


@torch.no_grad()
def predict_proba(model: nn.Module, images: torch.Tensor, *, batch_size: int = 128, device: str = "cpu") -> np.ndarray:
    """Softmax probabilities (N, K) in eval mode."""
    was = model.training
    model.eval()
    out = [F.softmax(model(to_input(images[i:i + batch_size], device)), 1).cpu()
           for i in range(0, len(images), batch_size)]
    model.train(was)
    return torch.cat(out).numpy()
