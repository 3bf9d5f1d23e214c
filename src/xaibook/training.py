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
    trainable_from: str | None = None             # fine-tune from this stage on (xaibook.models.stages); None: all
    cache_limit_bytes: int = 2 << 30              # frozen stages' outputs are kept in memory up to this size


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


def draw_augmentation(n: int, cfg: TrainConfig, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """The random view of each of ``n`` samples: (flip (n,) bool, quarter turns (n,) int64).

    Flips with p = 0.5 when ``cfg.hflip``, turns uniform in 0-3 when ``cfg.rotate`` (none otherwise);
    drawn in this order from ``generator``, so a run that augments pixels and one that picks cached
    features of the same views (:func:`fit` with ``frozen``) draw the same numbers.
    """
    flip = torch.rand(n, generator=generator) < 0.5 if cfg.hflip else torch.zeros(n, dtype=torch.bool)
    turns = torch.randint(0, 4, (n,), generator=generator) if cfg.rotate else torch.zeros(n, dtype=torch.long)
    return flip, turns


def apply_augmentation(x: torch.Tensor, flip: torch.Tensor, turns: torch.Tensor) -> torch.Tensor:
    """Flip the last axis of the samples where ``flip``, then turn each by ``turns`` quarter turns, in place."""
    sel = flip.to(x.device)
    x[sel] = x[sel].flip(-1)
    for k in (1, 2, 3):
        sel = (turns == k).to(x.device)
        if bool(sel.any()):
            x[sel] = torch.rot90(x[sel], k, dims=(-2, -1))
    return x


def augment(x: torch.Tensor, cfg: TrainConfig, generator: torch.Generator) -> torch.Tensor:
    """Random horizontal flips (p = 0.5) and, with ``cfg.rotate``, random quarter turns, in place per sample."""
    return apply_augmentation(x, *draw_augmentation(len(x), cfg, generator))


def views(cfg: TrainConfig) -> list[tuple[bool, int]]:
    """Every view :func:`draw_augmentation` can pick: (flip, quarter turns), index ``flip + 2 * turns``."""
    return [(bool(f), t) for t in (range(4) if cfg.rotate else [0]) for f in ((0, 1) if cfg.hflip else (0,))]


def view_index(flip: torch.Tensor, turns: torch.Tensor, cfg: TrainConfig) -> torch.Tensor:
    """The position in :func:`views` of each drawn view."""
    return flip.long() * int(cfg.hflip) + turns * (2 if cfg.hflip else 1)


class NonFiniteLoss(FloatingPointError):
    """Training produced a NaN or infinite loss."""


def check_loss(loss: torch.Tensor, epoch: int, step: int | None) -> None:
    """Stop at once, with the place and the usual causes, when a loss is NaN or infinite."""
    if not bool(torch.isfinite(loss.detach()).all()):
        where = f"epoch {epoch + 1}, " + ("validation" if step is None else f"step {step + 1}")
        raise NonFiniteLoss(f"the {'validation' if step is None else 'training'} loss is {float(loss.detach()):g} at {where}: "
                            f"look for NaN or infinite values in the images or labels, or lower the learning rate; "
                            f"the weights are no longer usable")


@torch.no_grad()
def frozen_features(trunk: nn.Module, images: torch.Tensor, cfg: TrainConfig,
                    view_list: list[tuple[bool, int]]) -> torch.Tensor:
    """The frozen stages' output for every view of every image: (V, N, *F), computed once, in eval mode."""
    trunk.eval()
    out = []
    for flip, turns in view_list:
        parts = []
        for i in range(0, len(images), 2 * cfg.batch_size):
            x = to_input(images[i:i + 2 * cfg.batch_size], cfg.device)
            n = len(x)
            x = apply_augmentation(x, torch.full((n,), flip), torch.full((n,), turns, dtype=torch.long))
            parts.append(trunk(x))
        out.append(torch.cat(parts))
    return torch.stack(out)


def _feature_bytes(trunk: nn.Module, images: torch.Tensor, cfg: TrainConfig, n_views: int) -> int:
    with torch.no_grad():
        one = trunk.eval()(to_input(images[:1], cfg.device))
    return one.numel() * one.element_size() * len(images) * n_views


def fit(model: nn.Module, train: tuple[torch.Tensor, torch.Tensor], val: tuple[torch.Tensor, torch.Tensor],
        cfg: TrainConfig, generator: torch.Generator) -> TrainResult:
    """Adam + cross-entropy for ``cfg.epochs``; returns the history and loads the best-val-loss weights.

    Random horizontal flips (``cfg.hflip``) flip the last axis of each sample with p = 0.5;
    ``cfg.rotate`` adds quarter turns (square inputs only). ``cfg.class_weights`` weight the loss
    per class (e.g. 0.4 on foam in Austerjost et al.); ``cfg.class_repeats`` draw a class more
    often per epoch (:func:`epoch_order`); ``cfg.lr_step`` decays the rate stepwise (StepLR).

    ``cfg.trainable_from`` fine-tunes: the stages before it (:func:`xaibook.models.freeze_before`) get
    no gradient and stay in inference mode, batch-norm statistics included, as in Keras-style
    transfer learning. Their output then depends on the image and its view only, so it is computed
    once per view (:func:`views`: 2 with flips, 8 with flips and quarter turns) and the later stages
    train on it, the same random draws picking the same views as pixel augmentation would. Above
    ``cfg.cache_limit_bytes`` (a paper-profile data set) they run on every batch instead, without
    gradients; the two paths agree to float rounding (tests/test_training.py).
    """
    from .models import freeze_before, split

    model.to(cfg.device)
    trunk, head = (None, model) if cfg.trainable_from is None else split(freeze_before(model, cfg.trainable_from),
                                                                         cfg.trainable_from)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = None if cfg.lr_step is None else torch.optim.lr_scheduler.StepLR(opt, cfg.lr_step, cfg.lr_gamma)
    weight = None if cfg.class_weights is None else torch.tensor(cfg.class_weights, device=cfg.device)
    x_train, y_train = train
    result = TrainResult()
    best, best_state = float("inf"), None
    t0 = time.perf_counter()
    cached = None
    if trunk is not None and _feature_bytes(trunk, x_train, cfg, len(views(cfg))) <= cfg.cache_limit_bytes:
        cached = frozen_features(trunk, x_train, cfg, views(cfg))
        val_cached = frozen_features(trunk, val[0], cfg, [(False, 0)])[0]
    for epoch in range(cfg.epochs):
        model.train()
        if trunk is not None:
            trunk.eval()
        order = epoch_order(y_train, cfg.class_repeats, generator)
        losses = []
        for i in range(0, len(order), cfg.batch_size):
            idx = order[i:i + cfg.batch_size]
            if len(idx) < 2:      # BatchNorm needs two samples
                continue
            if cfg.max_steps is not None and len(losses) >= cfg.max_steps:
                break
            flip, turns = draw_augmentation(len(idx), cfg, generator)
            if cached is not None:
                x = cached[view_index(flip, turns, cfg), idx]
            else:
                x = apply_augmentation(to_input(x_train[idx], cfg.device), flip, turns)
                if trunk is not None:
                    with torch.no_grad():
                        x = trunk(x)
            y = y_train[idx].to(cfg.device)
            opt.zero_grad(set_to_none=True)
            loss = _loss(head, x, y, weight)
            check_loss(loss, epoch, len(losses))
            loss.backward()
            opt.step()
            losses.append(loss.detach().item())
            result.samples_seen += len(idx)
        if sched is not None:
            sched.step()
        result.train_loss.append(float(np.mean(losses)))
        if cached is not None:
            result.val_loss.append(_features_loss(head, val_cached, val[1], cfg, weight))
        else:
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
def _features_loss(head: nn.Module, feats: torch.Tensor, labels: torch.Tensor, cfg: TrainConfig,
                   weight: torch.Tensor | None) -> float:
    """:func:`evaluate_loss` on cached frozen-stage outputs."""
    head.eval()
    total, n = 0.0, 0.0
    for i in range(0, len(feats), 2 * cfg.batch_size):
        y = labels[i:i + 2 * cfg.batch_size].to(cfg.device)
        logits = head(feats[i:i + 2 * cfg.batch_size])
        w = torch.ones_like(y, dtype=torch.float) if weight is None else weight[y]
        total += float((F.cross_entropy(logits, y, reduction="none") * w).sum())
        n += float(w.sum())
    return total / n


@torch.no_grad()
def predict_proba(model: nn.Module, images: torch.Tensor, *, batch_size: int = 128, device: str = "cpu") -> np.ndarray:
    """Softmax probabilities (N, K) in eval mode."""
    was = model.training
    model.eval()
    out = [F.softmax(model(to_input(images[i:i + batch_size], device)), 1).cpu()
           for i in range(0, len(images), batch_size)]
    model.train(was)
    return torch.cat(out).numpy()
