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

from .models.imagenet import IMAGENET_MEAN, IMAGENET_STD


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
    solver: str = "adam"                          # "adam"; "lbfgs": the linear head alone, solved to convergence
    l2: float = 1e-2                              # "lbfgs": ridge penalty (standardised features) (l2 / 2) * |W|^2 on the mean weighted loss


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

    @property
    def checkpoint(self) -> str:
        """Which weights were kept: "epoch 7 of 10" (best validation loss), or "converged" (a solved head)."""
        if self.best_epoch < 0:
            return "converged"
        return f"epoch {self.best_epoch + 1} of {len(self.val_loss)}"


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
        cfg: TrainConfig, generator: torch.Generator, *, features: torch.Tensor | None = None) -> TrainResult:
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

    if cfg.solver == "lbfgs":
        return fit_linear_head(model, train, val, cfg, features=features)
    if features is not None:
        raise ValueError("fit: precomputed features are for the linear head (TrainConfig.solver='lbfgs') only")
    if cfg.solver != "adam":
        raise ValueError(f"TrainConfig.solver is 'adam' or 'lbfgs' (got {cfg.solver!r})")
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


def fit_shuffled_labels(model: nn.Module, train: tuple[torch.Tensor, torch.Tensor],
                        val: tuple[torch.Tensor, torch.Tensor], cfg: TrainConfig, seed: int, *,
                        features: torch.Tensor | None = None) -> TrainResult:
    """:func:`fit` on labels permuted at random: Adebayo et al. 2018's data randomisation, a model trained the
    same way that can learn nothing about the relation between inputs and labels. Training and validation
    labels are pooled and permuted together (``seed``), so the class counts stay; a permutation that leaves a
    class of the training labels without a training sample is drawn again (a fit cannot learn a class it
    never sees): a random permutation conditioned on every class keeping one. The same seed draws the
    training order. The caller's random state is left as it was."""
    pooled = torch.cat([train[1], val[1]])
    gen = torch.Generator().manual_seed(seed)
    classes = set(train[1].unique().tolist())
    for _ in range(1000):
        y = pooled[torch.randperm(len(pooled), generator=gen)]
        if classes <= set(y[:len(train[1])].unique().tolist()):
            break
    else:
        raise ValueError(f"no permutation of {len(pooled)} labels in 1000 draws gives every class a training sample")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return fit(model, (train[0], y[:len(train[1])]), (val[0], y[len(train[1]):]), cfg, gen, features=features)


def shuffled_twin(arch: str, num_classes: int, train: tuple[torch.Tensor, torch.Tensor],
                  val: tuple[torch.Tensor, torch.Tensor], cfg: TrainConfig, seed: int, *, pretrained: bool,
                  features: torch.Tensor | None = None) -> nn.Module:
    """A new ``arch`` classifier (:func:`xaibook.models.build`) trained as ``cfg`` says on shuffled labels
    (:func:`fit_shuffled_labels`), on ``cfg.device``: the second model of Adebayo et al.'s data-randomisation
    test. Its initial head is drawn from ``seed``; the caller's random state is left as it was. ``features``:
    :func:`linear_head_features` of the training images, when the caller already has them (solver lbfgs)."""
    from .models import build

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = build(arch, num_classes, pretrained=pretrained).to(cfg.device)
    fit_shuffled_labels(model, train, val, cfg, seed, features=features)
    return model


def shuffled_twins(arch: str, num_classes: int, train: tuple[torch.Tensor, torch.Tensor],
                   val: tuple[torch.Tensor, torch.Tensor], cfg: TrainConfig, seed: int, permutations: int, *,
                   pretrained: bool) -> list[nn.Module]:
    """``permutations`` :func:`shuffled_twin` models, one per label permutation: the first seeded ``seed``, the
    others :func:`xaibook.saliency.sanity.draw_seed` (independent streams, shared by no other run), for a
    data-randomisation test averaged over permutations.

    With the linear-head solver on pretrained weights every twin has the same frozen trunk (the pretrained
    weights; only the head differs, and the solver replaces it), and the shuffled labels leave the images where
    they were: the trunk's features of the training images are computed once and shared, bit for bit what each
    twin would compute, so a permutation costs one solve, not one pass of the trunk over every view."""
    from .models import build
    from .saliency.sanity import draw_seed

    features = None
    if cfg.solver == "lbfgs" and pretrained and permutations > 1:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            features = linear_head_features(build(arch, num_classes, pretrained=True), train[0], cfg)
    return [shuffled_twin(arch, num_classes, train, val, cfg, draw_seed(seed, k), pretrained=pretrained,
                          features=features) for k in range(permutations)]


def linear_head_features(model: nn.Module, images: torch.Tensor, cfg: TrainConfig) -> torch.Tensor:
    """What :func:`fit_linear_head` fits on: the frozen part's output (everything before the final linear
    layer's stage) for every view (:func:`views`) of ``images``, (V, N, F) float64 on the CPU."""
    from .models import split

    model.to(cfg.device).eval()
    trunk, _ = split(model, _head_stage(model))
    return frozen_features(trunk, images, cfg, views(cfg)).flatten(2).double().cpu()


def fit_linear_head(model: nn.Module, train: tuple[torch.Tensor, torch.Tensor],
                    val: tuple[torch.Tensor, torch.Tensor], cfg: TrainConfig, *,
                    features: torch.Tensor | None = None) -> TrainResult:
    """Fit only the model's final linear layer, as an L2-regularised multinomial logistic regression
    on the frozen network's pooled features, solved to convergence; the rest keeps its weights.

    Every view of :func:`views` (flips, and quarter turns with ``cfg.rotate``) enters as a sample of
    its own, so augmentation is enumerated rather than drawn. ``cfg.class_weights`` and
    ``cfg.class_repeats`` weight the samples; the penalty is ``cfg.l2 / 2 * |W|^2`` on the mean
    weighted loss, with ``W`` acting on standardised features (the bias is not penalised). The
    objective is strictly convex, so its optimum is unique: no random draw enters (``cfg.epochs``,
    ``lr`` and the generator are unused), and two CPU kernel paths, whose features differ in the
    last bits, give heads, maps and scores that agree to about the same precision, where a few epochs of Adam scatter between seeds as much as the effects
    the chapters measure. scikit-learn's L-BFGS solves it in float64. ``features``: the model's
    :func:`linear_head_features` of ``train``'s images when the caller has them (shared by shuffled twins).
    """
    from sklearn.linear_model import LogisticRegression

    from .models import split

    model.to(cfg.device).eval()
    _, head = split(model, _head_stage(model))
    t0 = time.perf_counter()
    x_train, y_train = train
    view_list = views(cfg)
    if features is not None and (features.shape[:2] != (len(view_list), len(x_train))
                                 or features.dtype != torch.float64):
        raise ValueError(f"fit_linear_head: features of shape {tuple(features.shape)} ({features.dtype}) are not "
                         f"linear_head_features of these {len(x_train)} images in {len(view_list)} views")
    feats = linear_head_features(model, x_train, cfg) if features is None else features    # (V, N, F)
    y = y_train.numpy()
    w = np.ones(len(y))
    if cfg.class_weights is not None:
        w = w * np.asarray(cfg.class_weights, dtype=float)[y]
    if cfg.class_repeats is not None:
        w = w * np.asarray(cfg.class_repeats, dtype=float)[y]
    x = feats.reshape(-1, feats.shape[-1]).numpy()
    yy, ww = np.tile(y, len(view_list)), np.tile(w, len(view_list))
    ww = ww / ww.mean()
    lin = head[-1]
    if not isinstance(lin, nn.Linear):
        raise ValueError(f"fit_linear_head needs a model that ends in an nn.Linear (got {type(lin).__name__})")
    classes = np.arange(lin.out_features)
    if len(np.unique(yy)) < len(classes):
        raise ValueError(f"fit_linear_head: class(es) {sorted(int(c) for c in set(classes) - set(np.unique(yy)))} have no "
                         f"training sample; a linear head cannot be fitted for them")
    # Features are standardised (each to mean 0, sd 1 over the training samples) for a well-conditioned
    # problem: L-BFGS then converges in hundreds of iterations, not thousands; the scaling is folded back
    # into the layer's weights below. sklearn minimises C * sum_i w_i loss_i + |W|^2 / 2: with weights of
    # mean 1 this is the mean weighted loss + l2 / 2 * |W|^2 (W on the standardised features).
    mu, sd = x.mean(0), x.std(0)
    sd = np.where(sd > 1e-3 * sd.max(), sd, 1.0)
    clf = LogisticRegression(C=1.0 / (cfg.l2 * len(yy)), solver="lbfgs", tol=1e-10, max_iter=10_000)
    clf.fit((x - mu) / sd, yy, sample_weight=ww)
    if clf.n_iter_.max() >= clf.max_iter:
        raise RuntimeError(f"the linear head did not converge in {clf.max_iter} L-BFGS iterations; raise l2")
    coef = clf.coef_ / sd
    bias = clf.intercept_ - coef @ mu
    if len(classes) == 2:                                   # sklearn keeps one row for two classes
        coef, bias = np.vstack([-coef / 2, coef / 2]), np.r_[-bias / 2, bias / 2]
    with torch.no_grad():
        lin.weight.copy_(torch.from_numpy(coef).to(lin.weight))
        lin.bias.copy_(torch.from_numpy(bias).to(lin.bias))
    result = TrainResult(best_epoch=-1, samples_seen=len(yy))      # no epochs: solved, not stopped early
    weight = None if cfg.class_weights is None else torch.tensor(cfg.class_weights, device=cfg.device)
    result.train_loss.append(_features_loss(head, feats[0].float().to(cfg.device), y_train, cfg, weight))
    result.val_loss.append(evaluate_loss(model, *val, cfg, weight))
    result.seconds = time.perf_counter() - t0
    model.eval()
    return result


def _head_stage(model: nn.Module) -> str:
    from .models import stages

    return stages(model)[-1]


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
