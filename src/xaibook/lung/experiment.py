"""The experiments of chapter 03_lung_sliding: settings, the 15 configurations, the M-mode baseline,
motion ablations, patient verdicts and where the saliency sits.

Kolarik et al. train keras-resnet3d's 3D ResNet-18, -34 and -50 on six patch data sets
(:mod:`.dataset`) with binary cross-entropy, Adam, batch 32 and 16 epochs, keeping the checkpoint
with the lowest loss. The paper does not say which loss the checkpoint watched: we hold out a
fifth of the training patients (by patient, within each class) and keep the epoch with the lowest
loss on them, so that no test patient chooses the model.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from ..book.claims import ClaimCheck
from ..models.resnet3d import ResNet3D, l2_param_groups
from .dataset import CLIP_FRAMES, PAPER_SIZE, PATCHES, PatchSet, build_patch_sets, m_mode
from .standin import LungStandinSpec

DEPTHS = (18, 34, 50)
#: the paper's data sets (its names; the patch size in pixels is ``LungSettings.patch_px``)
DATA_SETS = ("2_30x30", "all_30x30", "2_60x60", "all_60x60", "all_90x90")
#: the 15 configurations of the paper's Table 4, in its order
CONFIGS = tuple((depth, name) for name in DATA_SETS for depth in DEPTHS)
#: Table 5: the best configuration per patch size, as the paper picked them
TABLE5 = ((18, "all_30x30"), (34, "2_60x60"), (18, "all_90x90"))


@dataclass(frozen=True)
class LungSettings:
    """Every setting of the chapter that a profile may change."""

    scale: float                    # of the stand-in's frames and of the unified frame (1 = 640x480)
    patches: tuple[int, ...]        # patch sizes (px of the unified frame) standing for 30, 60, 90
    frame_stride: int               # every k-th frame of a 60-frame clip goes into the model
    width: int                      # filters of the 3D ResNets' first stage (64 in keras-resnet3d)
    epochs: int
    max_train: int | None           # patches drawn per data set for training (None: all)
    max_test: int | None            # test patches drawn per data set (None: all)
    bn_momentum: float              # PyTorch convention (Keras' 0.99 is 0.01 here)
    mmode_size: int                 # M-mode images are resized to this square
    mmode_columns: int              # M-mode columns per clip (evenly across the region)
    mmode_epochs: int
    mmode_width: int                # filters of the M-mode ResNet-18's first stage (64 in ResNet-18)
    smoothgrad_samples: int
    batch_size: int = 32
    lr: float = 1e-3                # Keras' Adam default
    l2: float = 1e-4                # keras-resnet3d's reg_factor
    val_share: float = 0.2          # training patients held out to pick the checkpoint
    smoothgrad_noise: float = 0.2   # sigma / (max - min), tf-keras-vis' default
    saliency_patches: int = 24      # test patches whose maps are measured
    saliency_correct_only: bool = True   # explain only patches the model calls present correctly
    # The randomisation checks (Adebayo et al. 2018), beyond the paper: the paper profile's (see FAST's WHY).
    sanity_patches: int = 12        # explained patches in the randomisation checks
    sanity_draws: int = 8           # independent randomisations of the fully randomised network, averaged
    label_shuffles: int = 3         # label permutations (one training each) in the data-randomisation check
    max_steps: int | None = None    # optimiser steps per epoch at most (None: all)
    precise_bn: bool = False        # batch norm's statistics recomputed on the training set after every epoch
    standin_patients: tuple[int, int] = (28, 20)           # simulated patients with / without sliding
    standin_seconds: tuple[float, float] | None = None     # simulated video length (None: the simulator's)

    @property
    def size(self) -> tuple[int, int]:
        """The unified frame (height, width)."""
        return 2 * round(PAPER_SIZE[0] * self.scale / 2), 2 * round(PAPER_SIZE[1] * self.scale / 2)

    @property
    def patch_px(self) -> dict[str, int]:
        """Data set name (the paper's) -> its patch size here."""
        of = dict(zip(PATCHES, self.patches))
        return {name: of[int(name.split("_")[1].split("x")[0])] for name in DATA_SETS}

    def standin_spec(self) -> LungStandinSpec:
        n_present, n_absent = self.standin_patients
        lengths = {} if self.standin_seconds is None else {"seconds_present": self.standin_seconds,
                                                           "seconds_absent": self.standin_seconds}
        return LungStandinSpec(scale=self.scale, n_present=n_present, n_absent=n_absent, **lengths)


PAPER = LungSettings(scale=1.0, patches=PATCHES, frame_stride=1, width=64, epochs=16, max_train=None, max_test=None,
                     bn_momentum=0.01, mmode_size=64, mmode_columns=5, mmode_epochs=16, mmode_width=64,
                     smoothgrad_samples=50)
FAST = LungSettings(scale=0.25, patches=(8, 15, 22), frame_stride=3, width=8, epochs=7, max_train=640, max_test=600,
                    bn_momentum=0.1, mmode_size=64, mmode_columns=4, mmode_epochs=10, mmode_width=16,
                    smoothgrad_samples=20, sanity_patches=4, sanity_draws=1, label_shuffles=1, precise_bn=True)
WHY = {
    "scale": "a quarter of 640x480 (160x120) renders and decodes 16x faster; the ultrasound's anatomy keeps its "
             "proportions (depth in mm, patches in the same place relative to the pleura)",
    "patches": "the paper's 30, 60 and 90 px scaled with the frame (a quarter, rounded)",
    "frame_stride": "every 3rd frame (20 of 60, 10 fps): a third of the cost, and larger motion between the frames "
                    "the stem convolution sees; the clip still spans 2 s",
    "width": "8 filters in the first stage instead of 64 (each later stage doubles): all 15 models train in about "
             "1.7 CPU minutes",
    "epochs": "7 epochs on at most 640 patches fit the CPU budget; the best-validation-loss checkpoint is still used",
    "max_train": "at most 640 training patches per data set (drawn at random from the training patients)",
    "max_test": "at most 600 test patches per data set (drawn at random from the test patients)",
    "bn_momentum": "at most 140 optimiser steps (7 epochs of at most 20 batches) instead of thousands: Keras' slow "
                   "running averages (0.99) would not settle, so PyTorch's default 0.1 is used",
    "precise_bn": "after every epoch batch norm's statistics are recomputed over the training patches with the "
                  "epoch's final weights (torch.optim.swa_utils.update_bn) before the validation loss picks the "
                  "checkpoint: with 20 steps an epoch the running averages lag weights that Adam moves fast, and the "
                  "evaluated networks' calls jumped from epoch to epoch. Measured on 2026-12-04 (4 seeds x 15 "
                  "configurations, scripts/lung_config_spread.py): between consecutive epochs test accuracy moved by "
                  "0.053 on average and by 0.24 in the worst run without it, by 0.033 and 0.09 with it, for 5% more "
                  "training time",
    "mmode_columns": "4 M-mode lines per clip instead of 5 (CPU budget)",
    "mmode_epochs": "10 epochs for the M-mode ResNet-18 (CPU budget)",
    "mmode_width": "a ResNet-18 with 16 filters in its first stage instead of 64 (4x faster on a CPU); a full-width "
                   "one trained for a CPU budget's few steps called clips at chance",
    "smoothgrad_samples": "20 noisy copies instead of 50 for the measured maps (CPU budget)",
    "sanity_patches": "4 patches instead of 12 in the randomisation checks (CPU budget; see label_shuffles)",
    "sanity_draws": "one draw of the fully randomised network instead of 8: on the same patches the draw moved the "
                    "vanilla comparison by sd 0.02, the patches and the trained network far more",
    "label_shuffles": "one label permutation instead of 3 (CPU budget). Measured on 2026-12-04 over 10 seeds: 12 "
                      "patches, 8 draws and 3 permutations narrowed the vanilla claims' spread between runs from sd "
                      "0.057 and 0.049 to 0.044 and 0.045, still too wide for a verdict at this chapter's "
                      "interval, and the two checks took 34.5 s instead of 7.6 s",
}


#: The paper profile's smoke run: 640x480, 60-frame clips, the paper's patches, full-width ResNet3D-18/34/50 and
#: the M-mode ResNet-18, batch 32 and the same loaders, on a stand-in of 7 patients with 2-3 s videos: every
#: configuration takes one optimiser step on at most 4 patches and is tested on all the test patients' patches
#: (both classes, so that sensitivity and specificity are defined); SmoothGrad takes 2 samples for 1 patch,
#: explained whatever the model calls it (a one-step model may call nothing "present").
SMOKE = {"sanity_patches": 2, "sanity_draws": 2, "label_shuffles": 1, "epochs": 1, "max_steps": 1, "max_train": 4, "max_test": None, "mmode_epochs": 1, "smoothgrad_samples": 2,
         "saliency_patches": 1, "saliency_correct_only": False, "standin_patients": (4, 3),
         "standin_seconds": (2.0, 3.0)}


def settings(profile: str, smoke: bool = False) -> LungSettings:
    """The chapter's settings for ``"fast"`` or ``"paper"``; ``smoke`` (paper only): :data:`SMOKE` applied."""
    from ..book.profiles import select_settings

    return select_settings(profile, fast=FAST, paper=PAPER, smoke=smoke, smoke_overrides=SMOKE)


# --- data sets ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Split:
    """Indices into a data set: training, validation (held-out training patients) and test patches."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray


def paper_sets(clips, cfg: LungSettings) -> dict[str, PatchSet]:
    """The five data sets of the paper's tables, keyed by the paper's names (``2_90x90`` equals ``all_90x90``
    when the region is at most two 90 px rows tall: see the audit)."""
    built = build_patch_sets(clips.clips, clips.rois, clips.y, clips.patients, patches=cfg.patches)
    out = {}
    for name in DATA_SETS:
        rows, p = name.split("_")[0], cfg.patch_px[name]
        out[name] = built[f"{rows}_{p}x{p}"]
    out["2_90x90"] = built[f"2_{cfg.patch_px['all_90x90']}x{cfg.patch_px['all_90x90']}"]
    return out


def class_counts(sets: dict[str, PatchSet]) -> pd.DataFrame:
    """Patches per data set and class (the paper's Fig. 4), in the paper's order, with the patch size in px."""
    order = ["2_30x30", "all_30x30", "2_60x60", "all_60x60", "2_90x90", "all_90x90"]
    return pd.DataFrame([{"data set": n, **sets[n].counts(), "patch px": int(sets[n].patches.shape[-1])}
                         for n in order]).set_index("data set")


def validation_patients(train_patients: dict[str, int], share: float, seed: int) -> set[str]:
    """A ``share`` of the training patients, by class, that choose the checkpoint."""
    rng = np.random.default_rng(seed + 7919)
    out = set()
    for label in (0, 1):
        people = sorted(p for p, y in train_patients.items() if y == label)
        rng.shuffle(people)
        out.update(people[: max(1, int(round(share * len(people))))])
    return out


@dataclass(frozen=True)
class PatientSplit:
    """The patient-wise split every data set shares: patient -> "train"/"test", and the validation patients."""

    side: dict[str, str]
    val_patients: set[str]

    @property
    def n_test(self) -> int:
        return sum(v == "test" for v in self.side.values())


def split_cohort(table: pd.DataFrame, cfg: LungSettings, seed: int) -> PatientSplit:
    """70:30 by patient within each class (:func:`.dataset.split_patients`), then a ``val_share`` of the
    training patients (by class) held out to choose checkpoints."""
    from .dataset import split_patients

    side = split_patients(table, seed=seed)
    train = {p: int(y) for p, y in zip(table["patient"], table["y"]) if side[p] == "train"}
    return PatientSplit(side, validation_patients(train, cfg.val_share, seed))


def split_set(s: PatchSet, split: dict[str, str], val_patients: set[str], cfg: LungSettings, seed: int) -> Split:
    """Patient-wise train / validation / test indices, each drawn down to the profile's caps."""
    rng = np.random.default_rng(seed)
    test = np.flatnonzero([split[p] == "test" for p in s.patient])
    val = np.flatnonzero([split[p] == "train" and p in val_patients for p in s.patient])
    train = np.flatnonzero([split[p] == "train" and p not in val_patients for p in s.patient])

    def draw(idx: np.ndarray, cap: int | None) -> np.ndarray:
        return np.sort(rng.choice(idx, cap, replace=False)) if cap is not None and len(idx) > cap else idx

    return Split(draw(train, cfg.max_train), draw(val, None if cfg.max_test is None else cfg.max_test // 2),
                 draw(test, cfg.max_test))


def to_input(patches: np.ndarray, cfg: LungSettings) -> torch.Tensor:
    """uint8 (N, T, P, P) -> float (N, 1, T', P, P): every ``frame_stride``-th frame, scaled to about [-2, 2]."""
    x = torch.from_numpy(np.ascontiguousarray(patches[:, :: cfg.frame_stride])).float()
    return ((x / 255.0 - 0.5) / 0.25)[:, None]


# --- training ----------------------------------------------------------------------------------

@dataclass
class History:
    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    best_epoch: int = -1
    steps: int = 0                  # optimiser steps taken


def _bce(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int = 128) -> float:
    model.eval()
    with torch.no_grad():
        total = sum(F.binary_cross_entropy_with_logits(model(x[i:i + batch])[:, 0], y[i:i + batch], reduction="sum")
                    .item() for i in range(0, len(x), batch))
    return total / max(len(x), 1)


def fit_binary(model: nn.Module, train: tuple[torch.Tensor, torch.Tensor], val: tuple[torch.Tensor, torch.Tensor],
               *, epochs: int, batch_size: int, lr: float, l2: float, generator: torch.Generator,
               device: str = "cpu", max_steps: int | None = None, precise_bn: bool = False,
               on_epoch: Callable[[int, nn.Module], None] | None = None) -> History:
    """Binary cross-entropy on one logit, Adam with Keras' L2 as weight decay; loads the lowest-validation-loss epoch.

    ``max_steps``: optimiser steps per epoch at most (a smoke run: 1). ``precise_bn``: after every
    epoch, batch norm's running statistics are recomputed over the whole training set with the
    epoch's final weights (``torch.optim.swa_utils.update_bn``, an equal-weight average over its
    batches) before the validation loss is measured, so that the evaluated network is the trained
    one and not one whose normalisation lags a few steps behind it. ``on_epoch(epoch, model)``: called
    after each epoch's validation loss, with the model in eval mode as it was measured (e.g. to record
    test predictions per epoch, ``scripts/lung_config_spread.py``); it must not train the model. A NaN
    or infinite loss stops training with :class:`xaibook.training.NonFiniteLoss`.
    """
    from torch.optim.swa_utils import update_bn

    from ..training import check_loss

    model.to(device)
    opt = torch.optim.Adam(l2_param_groups(model, l2), lr=lr)
    x, y = train
    xv, yv = val[0].to(device), val[1].float().to(device)
    hist, best, best_state = History(), float("inf"), None
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(len(x), generator=generator)
        losses = []
        for i in range(0, len(x), batch_size):
            j = order[i:i + batch_size]
            if len(j) < 2:          # batch norm needs two samples
                continue
            if max_steps is not None and len(losses) >= max_steps:
                break
            opt.zero_grad(set_to_none=True)
            loss = F.binary_cross_entropy_with_logits(model(x[j].to(device))[:, 0], y[j].float().to(device))
            check_loss(loss, epoch, len(losses))
            loss.backward()
            opt.step()
            hist.steps += 1
            losses.append(loss.item())
        hist.train_loss.append(float(np.mean(losses)))
        if precise_bn:
            with torch.no_grad():
                update_bn((x[i:i + 128].to(device) for i in range(0, len(x), 128)), model)
        hist.val_loss.append(_bce(model, xv, yv))
        check_loss(torch.tensor(hist.val_loss[-1]), epoch, None)
        if on_epoch is not None:
            on_epoch(epoch, model)
        if hist.val_loss[-1] < best:
            best, hist.best_epoch = hist.val_loss[-1], epoch
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    model.load_state_dict(best_state)
    model.eval()
    return hist


def predict(model: nn.Module, x: torch.Tensor, *, batch: int = 128, device: str = "cpu") -> np.ndarray:
    """P(sliding present) per sample."""
    model.eval()
    with torch.no_grad():
        return np.concatenate([torch.sigmoid(model(x[i:i + batch].to(device))[:, 0]).cpu().numpy()
                               for i in range(0, len(x), batch)]) if len(x) else np.zeros(0)


def binary_metrics(y: np.ndarray, p: np.ndarray, threshold: float = 0.5) -> dict[str, float]:
    """Accuracy, sensitivity, specificity, precision, F1 and balanced accuracy (the mean of sensitivity
    and specificity, what Jaščur et al. report) with "sliding present" as the positive class.

    The paper's numbers imply that class: its accuracies equal the prevalence-weighted mean of
    sensitivity and specificity only for a test set about 70% "present" (see the audit).
    """
    y = np.asarray(y).astype(bool)
    pred = np.asarray(p) >= threshold
    tp, tn = int((pred & y).sum()), int((~pred & ~y).sum())
    fp, fn = int((pred & ~y).sum()), int((~pred & y).sum())
    sens = tp / (tp + fn) if tp + fn else float("nan")
    spec = tn / (tn + fp) if tn + fp else float("nan")
    prec = tp / (tp + fp) if tp + fp else float("nan")
    f1 = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
    return {"accuracy": (tp + tn) / len(y), "sensitivity": sens, "specificity": spec, "precision": prec, "F1": f1,
            "balanced accuracy": (sens + spec) / 2}


@dataclass
class ConfigResult:
    depth: int
    data_set: str
    model: nn.Module
    history: History
    split: Split
    p_test: np.ndarray
    metrics: dict[str, float]
    seconds: float


def config_model(depth: int, cfg: LungSettings, seed: int) -> tuple[ResNet3D, torch.Generator]:
    """A configuration's untrained network (initialised from ``seed`` and the depth, batch norm's momentum set)
    and the generator of its training order."""
    torch.manual_seed(seed * 1000 + depth)
    gen = torch.Generator().manual_seed(seed * 1000 + depth)
    model = ResNet3D(depth, 1, 1, cfg.width)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm3d):
            m.momentum = cfg.bn_momentum
    return model, gen


def run_config(depth: int, name: str, s: PatchSet, split: Split, cfg: LungSettings, seed: int,
               device: str = "cpu") -> ConfigResult:
    """Train one of the 15 configurations from scratch and evaluate it on its test patches."""
    import time

    start = time.perf_counter()
    model, gen = config_model(depth, cfg, seed)
    hist = fit_binary(model, (to_input(s.patches[split.train], cfg), torch.from_numpy(s.y[split.train])),
                      (to_input(s.patches[split.val], cfg), torch.from_numpy(s.y[split.val])),
                      epochs=cfg.epochs, batch_size=cfg.batch_size, lr=cfg.lr, l2=cfg.l2, generator=gen, device=device,
                      max_steps=cfg.max_steps, precise_bn=cfg.precise_bn)
    p = predict(model, to_input(s.patches[split.test], cfg), device=device)
    return ConfigResult(depth, name, model, hist, split, p, binary_metrics(s.y[split.test], p),
                        time.perf_counter() - start)


def results_table(results: list[ConfigResult]) -> pd.DataFrame:
    """Table 4's layout: model, data set, accuracy, sensitivity, specificity, F1 (fractions, as the paper)."""
    return pd.DataFrame([{"model": f"ResNet3D-{r.depth}", "data set": r.data_set,
                          **{k: r.metrics[k] for k in ("accuracy", "sensitivity", "specificity", "F1")},
                          "train patches": len(r.split.train), "test patches": len(r.split.test),
                          "best epoch": r.history.best_epoch + 1, "seconds": r.seconds} for r in results])


# --- the M-mode baseline (Jascur et al. 2021) ---------------------------------------------------

def m_mode_images(clips, cfg: LungSettings) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``mmode_columns`` M-mode images per clip (columns evenly across the region), resized to a square.

    Returns images (N, S, S) float in [0, 1], labels (N,) and the clip index (N,). Each image is
    one column over the clip's 60 frames, from half a region-height above the marked region (the
    chest wall's still lines, the seashore's "waves") to the region's bottom (the lung, its "sand").
    Jaščur et al. take the column's whole depth; on our patients that let the network memorise
    each chest wall (it called every test clip "present"), so the column is cut to the region.
    """
    images, y, clip_id = [], [], []
    for c, (clip, roi, label) in enumerate(zip(clips.clips, clips.rois, clips.y)):
        top = max(0, roi["top"] - (roi["bottom"] - roi["top"]) // 2)
        cols = np.linspace(roi["left"], roi["right"] - 1, cfg.mmode_columns + 2)[1:-1].round().astype(int)
        for col in cols:
            image = torch.from_numpy(m_mode(clip, int(col))[top:roi["bottom"]]).float()[None, None] / 255.0
            images.append(F.interpolate(image, size=(cfg.mmode_size, cfg.mmode_size), mode="bilinear",
                                        align_corners=False, antialias=True)[0, 0])
            y.append(label)
            clip_id.append(c)
    return torch.stack(images).numpy(), np.array(y), np.array(clip_id)


def mmode_model(width: int = 64) -> nn.Module:
    """ResNet-18 (timm's, the torchvision layout) on one grey channel with one sigmoid logit (Jascur et al.'s
    classifier); ``width`` < 64 narrows every stage in proportion."""
    from timm.models.resnet import BasicBlock, ResNet

    return ResNet(BasicBlock, [2, 2, 2, 2], num_classes=1, in_chans=1, stem_width=width,
                  channels=tuple(width * 2 ** i for i in range(4)))


@dataclass
class MModeResult:
    model: nn.Module
    history: History
    test_clips: np.ndarray
    y_test: np.ndarray
    p_test: np.ndarray
    metrics: dict[str, float]


def run_mmode(clips, split: dict[str, str], val_patients: set[str], cfg: LungSettings, seed: int,
              device: str = "cpu") -> MModeResult:
    """Train and test the M-mode ResNet-18 on the same patients as the 3D models."""
    x, y, clip_id = m_mode_images(clips, cfg)
    patient = np.array(clips.patients)[clip_id]
    side = np.array([split[p] for p in patient])
    train = (side == "train") & ~np.isin(patient, list(val_patients))
    val = (side == "train") & np.isin(patient, list(val_patients))
    test = side == "test"
    xt = ((torch.from_numpy(x) - 0.5) / 0.25)[:, None]
    torch.manual_seed(seed * 1000 + 2)
    gen = torch.Generator().manual_seed(seed * 1000 + 2)
    model = mmode_model(cfg.mmode_width)
    hist = fit_binary(model, (xt[train], torch.from_numpy(y[train])), (xt[val], torch.from_numpy(y[val])),
                      epochs=cfg.mmode_epochs, batch_size=cfg.batch_size, lr=cfg.lr, l2=cfg.l2, generator=gen,
                      device=device, max_steps=cfg.max_steps, precise_bn=cfg.precise_bn)
    p = predict(model, xt[test], device=device)
    return MModeResult(model, hist, clip_id[test], y[test], p, binary_metrics(y[test], p))


# --- beyond the paper ----------------------------------------------------------------------------

def motion_ablation(r: ConfigResult, s: PatchSet, cfg: LungSettings, seed: int, device: str = "cpu") -> dict[str, float]:
    """How many "present" calls survive when the clip cannot move: first frame repeated, or frames shuffled.

    Returns the share of test patches called present on the real clips, on frozen clips and on
    shuffled clips, and the share of the real "present" calls that flip to "absent" under each.
    """
    x = to_input(s.patches[r.split.test], cfg)
    frozen = x[:, :, :1].expand_as(x).contiguous()
    perm = torch.from_numpy(np.random.default_rng(seed).permutation(x.shape[2]))
    shuffled = x[:, :, perm]
    present = r.p_test >= 0.5
    p_frozen, p_shuffled = predict(r.model, frozen, device=device), predict(r.model, shuffled, device=device)
    flips = lambda p: float((present & (p < 0.5)).sum() / max(present.sum(), 1))   # noqa: E731
    return {"present (real clips)": float(present.mean()), "present (frozen)": float((p_frozen >= 0.5).mean()),
            "present (shuffled)": float((p_shuffled >= 0.5).mean()),
            "flipped to absent (frozen)": flips(p_frozen), "flipped to absent (shuffled)": flips(p_shuffled)}


def patient_verdicts(patients: np.ndarray, y: np.ndarray, p: np.ndarray) -> pd.DataFrame:
    """One call per test patient: the mean P(present) over their patches (or M-mode images) >= 0.5."""
    df = pd.DataFrame({"patient": patients, "y": y, "p": p})
    out = df.groupby("patient").agg(y=("y", "first"), p=("p", "mean"), n=("p", "size"))
    out["call"] = (out["p"] >= 0.5).astype(int)
    return out


def verdict_accuracy(verdicts: pd.DataFrame) -> float:
    return float((verdicts["call"] == verdicts["y"]).mean())


def roughness(maps: torch.Tensor) -> np.ndarray:
    r"""Noise of each map (N, T, H, W), as shown (its absolute value): Geary's ratio of neighbour
    differences to spread,

    :math:`\frac{1}{3}\sum_{d \in \{t, h, w\}} \frac{\overline{(a_{i+1} - a_i)^2}}{2\,\mathrm{Var}(a)}`,
    :math:`a = |\text{map}|`.

    1 for white noise of any distribution (independent neighbours: the mean squared difference is
    twice the variance), near 0 for a map that changes slowly against its own spread, 0 for a
    constant map. Scale-free. Lower is smoother; the measure tells noise from structure, which a
    ratio of mean absolute values cannot (it gives 0.83 for |white noise|). NaN or infinite values raise.
    """
    from ..saliency._core import check_finite

    a = check_finite(maps, "maps whose roughness is measured").abs().double()
    var = a.flatten(1).var(dim=1, unbiased=False)
    num = sum((a.diff(dim=d) ** 2).mean(dim=(1, 2, 3)) for d in (1, 2, 3)) / 3
    return torch.where(var > 0, num / (2 * var.clamp_min(1e-300)), torch.zeros_like(var)).numpy()


def pleura_band_mask(depth_px: np.ndarray, top: int, patch: int, half_px: float) -> np.ndarray:
    """(T, P, P) boolean mask of the rows within ``half_px`` of the pleura in each frame of a row-0 patch
    (``depth_px`` in unified pixels per frame, ``top`` the patch's first row)."""
    rows = np.arange(patch)[None, :] + top
    band = np.abs(rows - depth_px[:, None]) <= half_px
    return np.broadcast_to(band[:, :, None], (len(depth_px), patch, patch))


def band_energy(maps: torch.Tensor, masks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Share of each map's energy (|map|) inside its band mask, and the band's share of the patch."""
    a = maps.abs().double().numpy()
    m = masks.astype(bool)
    inside = (a * m).sum(axis=(1, 2, 3)) / np.maximum(a.sum(axis=(1, 2, 3)), 1e-30)
    return inside, m.mean(axis=(1, 2, 3))


# --- the paper's claims ----------------------------------------------------------------------

def _acc(table: pd.DataFrame, depth: int, name: str) -> float:
    row = table[(table["model"] == f"ResNet3D-{depth}") & (table["data set"] == name)]
    return float(row["accuracy"].iloc[0])


#: The smallest margin the chapter's claims care about, in their units (accuracy, sensitivity and
#: specificity as fractions, roughness, energy shares): 0.02. Inside ±0.02 a difference is "no effect
#: at this resolution" (xaibook.book.claims.CLAIM_VERDICTS): two points of accuracy, a gap the paper's
#: tables would not call a difference between configurations.
CLAIM_RESOLUTION = 0.02


def paper_claims(table: pd.DataFrame, mmode: dict[str, float], smooth_rough: float, vanilla_rough: float,
                 band_share: float, band_control: float) -> list[ClaimCheck]:
    """The paper's claims as checks on this run's numbers (accuracy decides "best", as in the paper), and
    one beyond it: SmoothGrad's energy in the pleural band (``band_share``) against the same measure on
    the untrained network (``band_control``, :func:`untrained_twin`), which the paper never states."""
    acc = {(d, n): _acc(table, d, n) for d, n in CONFIGS}
    best = max(acc, key=acc.get)
    others = max(v for k, v in acc.items() if k != (18, "all_30x30"))
    mean = lambda name: float(np.mean([acc[(d, name)] for d in DEPTHS]))   # noqa: E731
    at = lambda name: {d: acc[(d, name)] for d in DEPTHS}                 # noqa: E731
    a90 = [acc[(d, "all_90x90")] for d in DEPTHS]
    a2_30, a2_60, a_60 = at("2_30x30"), at("2_60x60"), at("all_60x60")
    best30 = max(v for (d, n), v in acc.items() if n.endswith("30x30"))
    best60 = max(v for (d, n), v in acc.items() if n.endswith("60x60"))
    top = table.loc[table["accuracy"].idxmax()]
    r = CLAIM_RESOLUTION
    accs = lambda d: ", ".join(f"ResNet3D-{k} {v:.3f}" for k, v in d.items())   # noqa: E731
    return [
        ClaimCheck("best_config", "ResNet3D-18 on all_30x30 is the best of the 15 configurations (accuracy)",
                   best == (18, "all_30x30"), acc[(18, "all_30x30")] - others,
                   f"best: ResNet3D-{best[0]} on {best[1]} ({acc[best]:.3f}); ResNet3D-18 on all_30x30 "
                   f"{acc[(18, 'all_30x30')]:.3f}", "Sect. 4.1, Table 4", resolution=r),
        ClaimCheck("r18_worst_on_2_30", "On 2_30x30 ResNet3D-18 is the worst of the three depths (accuracy)",
                   a2_30[18] < min(a2_30[34], a2_30[50]), min(a2_30[34], a2_30[50]) - a2_30[18], accs(a2_30),
                   "Sect. 4.1, Table 1", resolution=r),
        ClaimCheck("all_beats_2_at_30", "On 30x30 the whole-region sets beat the pleura-only sets (mean accuracy of "
                   "the three models)", mean("all_30x30") > mean("2_30x30"), mean("all_30x30") - mean("2_30x30"),
                   f"all_30x30 {mean('all_30x30'):.3f}, 2_30x30 {mean('2_30x30'):.3f}", "Sect. 4.1, Table 1", resolution=r),
        ClaimCheck("2_beats_all_at_60", "On 60x60 the pleura-only sets beat the whole-region sets (mean accuracy)",
                   mean("2_60x60") > mean("all_60x60"), mean("2_60x60") - mean("all_60x60"),
                   f"2_60x60 {mean('2_60x60'):.3f}, all_60x60 {mean('all_60x60'):.3f}", "Sect. 4.2, Table 2", resolution=r),
        ClaimCheck("r34_best_on_2_60", "On 2_60x60 ResNet3D-34 is the best of the three depths (accuracy)",
                   a2_60[34] > max(a2_60[18], a2_60[50]), a2_60[34] - max(a2_60[18], a2_60[50]), accs(a2_60),
                   "Sect. 4.2, Table 2", resolution=r),
        ClaimCheck("r50_best_on_all_60", "On all_60x60 ResNet3D-50 is the best of the three depths (accuracy)",
                   a_60[50] > max(a_60[18], a_60[34]), a_60[50] - max(a_60[18], a_60[34]), accs(a_60),
                   "Sect. 4.2, Table 2", resolution=r),
        ClaimCheck("best60_below_best30", "The best 60x60 model is worse than the best 30x30 model (accuracy)",
                   best60 < best30, best30 - best60, f"best on 30x30 {best30:.3f}, on 60x60 {best60:.3f}",
                   "Sect. 4.2", resolution=r),
        ClaimCheck("depth_hurts_at_90", "On 90x90 accuracy falls as the network gets deeper (18 > 34 > 50)",
                   a90[0] > a90[1] > a90[2], min(a90[0] - a90[1], a90[1] - a90[2]),
                   "ResNet3D-18/34/50: " + ", ".join(f"{v:.3f}" for v in a90), "Sect. 4.3, Table 3", resolution=r),
        ClaimCheck("90_beats_all_60", "On 90x90 the models do better than on the whole-region 60x60 set (mean accuracy)",
                   mean("all_90x90") > mean("all_60x60"), mean("all_90x90") - mean("all_60x60"),
                   f"all_90x90 {mean('all_90x90'):.3f}, all_60x60 {mean('all_60x60'):.3f}", "Sect. 4.3", resolution=r),
        ClaimCheck("3d_beats_mmode_acc", "The best 3D model is more accurate than the M-mode ResNet-18 (on the same "
                   "clips here; against Jaščur et al.'s balanced accuracy in the paper)",
                   bool(top["accuracy"] > mmode["accuracy"]), float(top["accuracy"] - mmode["accuracy"]),
                   f"best 3D ({top['model']}, {top['data set']}) {top['accuracy']:.3f}, M-mode {mmode['accuracy']:.3f}",
                   "Sect. 4.4, Table 5", resolution=r),
        ClaimCheck("3d_vs_mmode", "The best 3D model has a higher sensitivity and a lower specificity than the "
                   "M-mode ResNet-18", bool(top["sensitivity"] > mmode["sensitivity"]
                                            and top["specificity"] < mmode["specificity"]),
                   min(top["sensitivity"] - mmode["sensitivity"], mmode["specificity"] - top["specificity"]),
                   f"best 3D ({top['model']}, {top['data set']}): sensitivity {top['sensitivity']:.3f}, specificity "
                   f"{top['specificity']:.3f}; M-mode: {mmode['sensitivity']:.3f}, {mmode['specificity']:.3f}",
                   "Sect. 4.4, Table 5", resolution=r),
        ClaimCheck("smoothgrad_less_noisy", "SmoothGrad maps are less noisy than vanilla saliency maps (roughness, "
                   "median over the measured patches)", smooth_rough < vanilla_rough, vanilla_rough - smooth_rough,
                   f"roughness: vanilla {vanilla_rough:.3f}, SmoothGrad {smooth_rough:.3f}",
                   "Sect. 4.5 (the method's purpose, as the paper describes SmoothGrad), Fig. 5", resolution=r),
        ClaimCheck("saliency_on_pleura", "Beyond the paper: the trained network's SmoothGrad puts more of its energy in "
                   "the pleural band than the same network untrained does (the control for the architecture's own "
                   "preference for a patch's middle rows)", band_share > band_control, band_share - band_control,
                   f"energy in the band: trained {band_share:.3f}, untrained {band_control:.3f}",
                   "beyond the paper (control: the untrained network)", resolution=r),
    ]


# --- saliency through time ---------------------------------------------------------------------

def clip_starts(files: list[str], clip_frames: int = CLIP_FRAMES) -> np.ndarray:
    """First unified frame of each clip in its video (clips are cut back to back)."""
    seen: dict[str, int] = {}
    out = []
    for f in files:
        out.append(seen.get(f, 0) * clip_frames)
        seen[f] = seen.get(f, 0) + 1
    return np.array(out)


@dataclass
class SaliencyStudy:
    """Vanilla and SmoothGrad maps (|gradient|, (N, T, P, P)) of correctly called "present" row-0 test patches."""

    index: np.ndarray                 # into the data set
    inputs: torch.Tensor              # (N, 1, T, P, P) model inputs
    vanilla: torch.Tensor
    smooth: torch.Tensor
    roughness: dict[str, np.ndarray]  # method -> per patch
    band_share: dict[str, np.ndarray] | None = None   # method -> energy share in the pleural band, per patch
    band_area: np.ndarray | None = None
    band_masks: np.ndarray | None = None
    control_share: dict[str, np.ndarray] | None = None  # the same measure for the untrained twin (the control)

    def medians(self) -> dict:
        """Median roughness per method, median energy share in the pleural band per method and the band's
        median share of the patch (NaN without the simulator's truth)."""
        rough = {m: float(np.median(v)) for m, v in self.roughness.items()}
        nan = {m: float("nan") for m in rough}
        if self.band_share is None:
            return {"roughness": rough, "band": nan, "band_area": float("nan"), "control": nan}
        control = nan if self.control_share is None else {m: float(np.median(v)) for m, v in self.control_share.items()}
        return {"roughness": rough, "band": {m: float(np.median(v)) for m, v in self.band_share.items()},
                "band_area": float(np.median(self.band_area)), "control": control}

    def per_frame(self, method: str) -> np.ndarray:
        """Each frame's share of a map's energy, averaged over the patches: (T,)."""
        a = (self.vanilla if method == "vanilla" else self.smooth).abs().double()
        return (a.sum(dim=(2, 3)) / a.sum(dim=(1, 2, 3))[:, None]).mean(0).numpy()


def method_rows(cfg: LungSettings) -> list[tuple[str, str, dict]]:
    """(label, registry name, options) of the two maps :func:`saliency_study` computes, for
    :func:`xaibook.book.profiles.method_table`; both are absolute values, as tf-keras-vis computes them."""
    return [("vanilla saliency, |gradient|", "vanillagrad", {}),
            ("SmoothGrad, mean of |gradient| over noisy copies", "smoothgrad", smoothgrad_options(cfg))]


def smoothgrad_options(cfg: LungSettings) -> dict:
    """SmoothGrad as tf-keras-vis' ``Saliency`` computes it: the mean over noisy copies of each copy's
    absolute gradient (its default ``gradient_modifier``), noise ``cfg.smoothgrad_noise`` of the input's range."""
    return {"method": "vanillagrad", "n_samples": cfg.smoothgrad_samples, "noise": cfg.smoothgrad_noise,
            "absolute": True}


def untrained_twin(depth: int, cfg: LungSettings, seed: int) -> ResNet3D:
    """The network :func:`run_config` trains, as it was before training: same architecture, same
    initial weights (same seed), in eval mode. The control for where its maps put their energy."""
    with torch.random.fork_rng(devices=[]):          # leaves the caller's random state as it was
        torch.manual_seed(seed * 1000 + depth)
        return ResNet3D(depth, 1, 1, cfg.width).eval()


def study_maps(model: nn.Module, x: torch.Tensor, cfg: LungSettings, device=None) -> dict[str, torch.Tensor]:
    """The chapter's two maps of the "present" logit for model inputs ``x`` (N, 1, T, P, P): vanilla saliency
    (|gradient|) and SmoothGrad (:func:`smoothgrad_options`), each (N, T, P, P) on the CPU. No pass holds
    more inputs than a training batch (noisy copies included; :func:`xaibook.saliency.attribute_in_chunks`)."""
    from ..saliency import attribute_in_chunks, build_method

    device = device or next(model.parameters()).device
    vanilla = attribute_in_chunks(build_method("vanillagrad", model), x, max_batch=cfg.batch_size,
                                  device=device).abs()
    smooth = build_method("smoothgrad", model, batch_size=min(cfg.smoothgrad_samples, cfg.batch_size),
                          **smoothgrad_options(cfg))
    return {"vanilla": vanilla, "SmoothGrad": attribute_in_chunks(smooth, x, max_batch=cfg.batch_size, device=device)}


def sanity_check(r: ConfigResult, study: "SaliencyStudy", cfg: LungSettings, seed: int) -> pd.DataFrame:
    """Adebayo et al. 2018's cascading model randomisation of the studied network, from ``fc`` down to the stem
    (:func:`xaibook.models.randomisation_cascade`; batch norm kept as trained), on the shared implementation
    (:mod:`xaibook.saliency.sanity`, 3-D maps): vanilla saliency and SmoothGrad on the first
    ``cfg.sanity_patches`` patches of ``study``, one row per step and method. The fully randomised network
    is drawn ``cfg.sanity_draws`` times and the last step averaged over the draws (the earlier steps are one
    draw each), as in chapters 01, 02 and 04."""
    from ..models import randomisation_cascade
    from ..saliency.sanity import model_randomisation, summarise

    x = study.inputs[: cfg.sanity_patches]
    return summarise(model_randomisation(lambda m: study_maps(m, x, cfg), r.model, randomisation_cascade(r.model),
                                         seed, draws=cfg.sanity_draws))


def label_check(r: ConfigResult, s: PatchSet, study: "SaliencyStudy", cfg: LungSettings, seed: int,
                device: str = "cpu") -> tuple[pd.DataFrame, ConfigResult]:
    """Adebayo et al. 2018's data-randomisation test: the studied configuration trained again, from the same
    initial weights and in the same way (:func:`run_config`), on its training and validation labels permuted
    at random, once for each of ``cfg.label_shuffles`` permutations (the first seeded ``seed``, the others
    :func:`xaibook.saliency.sanity.draw_seed`); its two maps on the patches of :func:`sanity_check` against
    the trained network's, averaged over the permutations (:func:`xaibook.saliency.sanity.data_randomisation`).
    Returns the table and the first shuffled run (its test metrics should sit at chance). Each permutation is
    one more training run of a small 3D network: seconds in the fast profile, one fifteenth of the paper
    profile's training."""
    from ..saliency.sanity import data_randomisation

    runs = shuffled_runs(r, s, cfg, seed, device)
    x = study.inputs[: cfg.sanity_patches]
    return data_randomisation(lambda m: study_maps(m, x, cfg), r.model, [run.model for run in runs]), runs[0]


def shuffled_runs(r: ConfigResult, s: PatchSet, cfg: LungSettings, seed: int, device: str = "cpu") -> list[ConfigResult]:
    """:func:`label_check`'s retrainings: ``r``'s configuration from the same initial weights on its training and
    validation labels permuted at random, one run per permutation (the k-th drawn by ``draw_seed(seed, k)``,
    the first by ``seed`` itself); the caller's torch random state is left alone."""
    import dataclasses

    from ..saliency.sanity import draw_seed

    if cfg.label_shuffles < 1:
        raise ValueError(f"label_shuffles must be at least 1, got {cfg.label_shuffles}")
    seen = np.concatenate([r.split.train, r.split.val])
    runs = []
    for k in range(cfg.label_shuffles):
        y = s.y.copy()
        y[seen] = s.y[seen][np.random.default_rng(draw_seed(seed, k)).permutation(len(seen))]
        with torch.random.fork_rng(devices=[]):      # run_config seeds torch: leave the chapter's state alone
            runs.append(run_config(r.depth, r.data_set, dataclasses.replace(s, y=y), r.split, cfg, seed, device))
    return runs


def saliency_study(r: ConfigResult, s: PatchSet, clips, cfg: LungSettings, truth=None,
                   control: nn.Module | None = None) -> SaliencyStudy:
    """Maps for up to ``saliency_patches`` test patches at the pleura (row 0) that the model calls present
    correctly; with the simulator's ``truth`` (:func:`.standin.load_truth`), the pleural band in each frame,
    and with a ``control`` network (:func:`untrained_twin`) the same band measure on its maps: the share
    the architecture alone puts there (the stem covers a patch's middle rows more often than its edges).

    No saliency pass holds more inputs than a training batch (``cfg.batch_size``), noisy copies included
    (:func:`xaibook.saliency.attribute_in_chunks`); chunks run on the model's device, maps come back
    to the CPU. The maps do not depend on the chunking.
    """
    from ..saliency import attribute_in_chunks, build_method
    from .standin import pleura_depth_px

    test = r.split.test
    ok = (s.row[test] == 0) & (s.y[test] == 1)
    if cfg.saliency_correct_only:
        ok &= r.p_test >= 0.5
    index = test[ok][: cfg.saliency_patches]
    if len(index) == 0:
        raise ValueError(f"{r.data_set}: no test patch at the pleura is called 'present' correctly; nothing to explain")
    x = to_input(s.patches[index], cfg)
    device = next(r.model.parameters()).device

    def maps(model: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
        out = study_maps(model, x, cfg, device)
        return out["vanilla"], out["SmoothGrad"]

    vanilla, smooth = maps(r.model)
    study = SaliencyStudy(index, x, vanilla, smooth, {"vanilla": roughness(vanilla), "SmoothGrad": roughness(smooth)})
    if truth is not None:
        spec, patients = truth
        starts = clip_starts(clips.files)
        patch = s.patches.shape[-1]
        masks = []
        for i in index:
            c = int(s.clip[i])
            p = patients[clips.files[c]]
            video_h = spec.frame_size(p.width)[0]
            to_unified = cfg.size[0] / video_h
            depth = pleura_depth_px(p, spec, 30.0, starts[c] + CLIP_FRAMES)[starts[c]:starts[c] + CLIP_FRAMES]
            depth = depth[:: cfg.frame_stride] * to_unified
            half = 0.75 * (video_h / p.depth_mm) * to_unified
            masks.append(pleura_band_mask(depth, clips.rois[c]["top"], patch, half))
        study.band_masks = np.stack(masks)
        shares = {m: band_energy(a, study.band_masks) for m, a in (("vanilla", vanilla), ("SmoothGrad", smooth))}
        study.band_share = {m: v[0] for m, v in shares.items()}
        study.band_area = shares["vanilla"][1]
        if control is not None:
            cv, cs = maps(control.to(device))
            study.control_share = {"vanilla": band_energy(cv, study.band_masks)[0],
                                   "SmoothGrad": band_energy(cs, study.band_masks)[0]}
    return study


# --- what the paper profile costs --------------------------------------------------------------

#: assumed sustained fp32 rate of a Colab T4 on 3D convolutions: about 40% of its 8.1 TFLOPS peak
T4_EFFECTIVE_TFLOPS = 3.0


def forward_flops(depth: int, patch: int, frames: int = CLIP_FRAMES, width: int = 64) -> float:
    """FLOPs of one forward pass of a 3D ResNet on one (frames, patch, patch) clip (counted on the meta device)."""
    from torch.utils.flop_counter import FlopCounterMode

    with torch.device("meta"):
        model = ResNet3D(depth, 1, 1, width).eval()     # eval: batch norm takes one clip of 1x1x1
        x = torch.empty(1, 1, frames, patch, patch)
    with FlopCounterMode(display=False) as counter:
        model(x)
    return float(counter.get_total_flops())


def training_cost(counts: pd.DataFrame, cfg: LungSettings, test_share: float = 0.3,
                  tflops: float = T4_EFFECTIVE_TFLOPS) -> pd.DataFrame:
    """Training FLOPs of the 15 configurations for data sets of ``counts`` patches, and minutes at ``tflops``.

    Training patches = patches x (1 - test_share) x (1 - val_share), capped at ``max_train``; a
    training step costs three forward passes (forward, and a backward pass of about twice that).
    """
    rows = []
    frames = -(-CLIP_FRAMES // cfg.frame_stride)
    for depth, name in CONFIGS:
        n = counts.loc[name, "patches"] * (1 - test_share) * (1 - cfg.val_share)
        n = min(n, cfg.max_train) if cfg.max_train is not None else n
        fwd = forward_flops(depth, cfg.patch_px[name], frames, cfg.width)
        total = 3 * fwd * n * cfg.epochs
        rows.append({"model": f"ResNet3D-{depth}", "data set": name, "training patches": round(n),
                     "GFLOP per clip (forward)": fwd / 1e9, "training PFLOP": total / 1e15,
                     "minutes": total / (tflops * 1e12) / 60})
    return pd.DataFrame(rows)


# --- the chapter's tables, from the runs ---------------------------------------------------------

def find(results: list[ConfigResult], depth: int, name: str) -> ConfigResult:
    """The run of one configuration."""
    return next(r for r in results if (r.depth, r.data_set) == (depth, name))


METRICS = ("accuracy", "sensitivity", "specificity", "F1")


def table5(table: pd.DataFrame, mmode: dict[str, float]) -> pd.DataFrame:
    """Table 5's layout: the paper's three picks (:data:`TABLE5`) from this run's Table 4, and the M-mode model."""
    rows = [table[(table["model"] == f"ResNet3D-{d}") & (table["data set"] == n)].iloc[0] for d, n in TABLE5]
    return pd.DataFrame([{"model": r["model"], "data set": r["data set"], **{k: r[k] for k in METRICS}} for r in rows]
                        + [{"model": "ResNet-18 (M-mode)", "data set": "M-mode, same clips",
                            **{k: mmode[k] for k in METRICS}}])


def ablation_table(results: list[ConfigResult], sets: dict[str, PatchSet], cfg: LungSettings, seed: int,
                   device: str = "cpu") -> pd.DataFrame:
    """:func:`motion_ablation` for Table 5's three configurations, one row each."""
    return pd.DataFrame({f"ResNet3D-{d} {n}": motion_ablation(find(results, d, n), sets[n], cfg, seed, device)
                         for d, n in TABLE5}).T


def verdict_table(results: list[ConfigResult], sets: dict[str, PatchSet], clips, mmode: MModeResult) -> pd.Series:
    """Patient-level accuracy of Table 5's three configurations and of the M-mode model."""
    out = {}
    for d, n in TABLE5:
        r, s = find(results, d, n), sets[n]
        out[f"ResNet3D-{d} {n}"] = verdict_accuracy(patient_verdicts(s.patient[r.split.test], s.y[r.split.test],
                                                                     r.p_test))
    out["ResNet-18 M-mode"] = verdict_accuracy(patient_verdicts(np.array(clips.patients)[mmode.test_clips],
                                                                mmode.y_test, mmode.p_test))
    return pd.Series(out, name="patient-level accuracy")


def m_mode_examples(clips) -> list[tuple[str, np.ndarray, np.ndarray, int, dict[str, int]]]:
    """Fig. 1's input: the first clip of each class, its first frame, and the M-mode through its region's middle."""
    out = []
    for label, y in (("present", 1), ("absent", 0)):
        c = clips.y.index(y)
        roi = clips.rois[c]
        col = (roi["left"] + roi["right"]) // 2
        out.append((label, clips.clips[c][0], m_mode(clips.clips[c], col), col, roi))
    return out


def record_table4(card, results: list[ConfigResult], paper_t4: pd.DataFrame) -> None:
    """Register the 15 configurations on the scorecard: accuracy for each (offered for gating), sensitivity,
    specificity and F1 offered only for Table 5's three (``paper_t4``: the paper's Table 4 by model, data set)."""
    for depth, name in CONFIGS:
        r = find(results, depth, name)
        key, row = f"r{depth}_{name}", paper_t4.loc[(f"ResNet3D-{depth}", name)]
        card.number(f"acc_{key}", f"ResNet3D-{depth} {name}: accuracy (%)", 100 * r.metrics["accuracy"],
                    paper=100 * row["accuracy"], unit="%", source="Table 4")
        for metric in ("sensitivity", "specificity", "F1"):
            card.number(f"{metric[:4].lower()}_{key}", f"ResNet3D-{depth} {name}: {metric} (%)", 100 * r.metrics[metric],
                        paper=100 * row[metric], unit="%", source="Table 4", gate=(depth, name) in TABLE5,
                        why="" if (depth, name) in TABLE5 else
                        "accuracy gates every configuration; sensitivity, specificity and F1 only Table 5's three")


def record_saliency(card, study: SaliencyStudy) -> pd.DataFrame:
    """Register the saliency measures on the scorecard (the band's only with the simulator's truth); returns
    the table the chapter shows."""
    med = study.medians()
    rough = med["roughness"]
    card.number("roughness_vanilla", "Roughness of vanilla saliency maps (median)", rough["vanilla"], unit="",
                source="beyond the paper (Fig. 5)")
    card.number("roughness_smoothgrad", "Roughness of SmoothGrad maps (median)", rough["SmoothGrad"], unit="",
                source="beyond the paper (Fig. 5)")
    if study.band_share is None:
        return pd.DataFrame({"roughness (median)": rough})
    band = med["band"]
    card.number("band_energy_vanilla", "Vanilla saliency energy in the pleural band (%)", 100 * band["vanilla"],
                unit="%", source="beyond the paper")
    card.number("band_energy_smoothgrad", "SmoothGrad energy in the pleural band (%)", 100 * band["SmoothGrad"],
                unit="%", source="beyond the paper")
    card.number("band_area", "Pleural band's share of the patch (%)", 100 * med["band_area"], unit="%",
                source="beyond the paper")
    out = {"energy in the pleural band (median)": band}
    if study.control_share is not None:
        control = med["control"]
        for m, key in (("vanilla", "vanilla"), ("SmoothGrad", "smoothgrad")):
            card.number(f"band_energy_{key}_untrained", f"{m} energy in the pleural band, untrained network (%)",
                        100 * control[m], unit="%", source="beyond the paper (control)")
        out["... of the untrained network (control)"] = control
    return pd.DataFrame({**out, "band's share of the patch (median)": med["band_area"], "roughness (median)": rough})


# --- the closing section ----------------------------------------------------------------------

def chapter_summary(table: pd.DataFrame, results: list[ConfigResult], mmode: dict[str, float],
                    ablation: pd.DataFrame, patient_acc: pd.Series, medians: dict, n_test_patients: int,
                    patch_px: dict[str, int]) -> dict[str, object]:
    """The numbers and sentences of the chapter's closing section, computed from this run so that they
    hold in every profile (``medians``: :meth:`SaliencyStudy.medians`; ``patch_px``: data set -> patch
    side in px of this run's frames)."""
    top = table.loc[table["accuracy"].idxmax()]
    first = ablation.iloc[0]
    frozen, shuffled = 100 * float(first["flipped to absent (frozen)"]), 100 * float(first["flipped to absent (shuffled)"])
    motion = ("a still clip flips many more of its calls than shuffled frames do: its calls depend on motion. A still "
              "clip is unlike any training clip of either class (every simulated clip moves), so this shows "
              "sensitivity to motion, not that the model detects sliding" if frozen - shuffled >= 20 else
              "a still clip flips about as many of its calls as shuffled frames do (within 20 points), so this run "
              "cannot say that the model reads change between frames rather than frame order"
              if abs(frozen - shuffled) < 20 else
              "shuffling the frames flips more of its calls than freezing them: the order of the frames matters to it")
    rough, band, control = medians["roughness"], medians["band"], medians["control"]
    diff = rough["vanilla"] - rough["SmoothGrad"]
    smooth_text = (f"SmoothGrad's maps are smoother than vanilla's (roughness {rough['SmoothGrad']:.2f} against "
                   f"{rough['vanilla']:.2f}; 1 is white noise, 0 a constant map)" if diff > CLAIM_RESOLUTION else
                   f"SmoothGrad's maps are not smoother than vanilla's (roughness {rough['SmoothGrad']:.2f} against "
                   f"{rough['vanilla']:.2f}; 1 is white noise, 0 a constant map)")
    if np.isnan(band["SmoothGrad"]):
        pleura_text = "without the simulator's truth this run cannot say where the pleura is in each frame"
    else:
        gap = band["SmoothGrad"] - control["SmoothGrad"]
        pleura_text = (f"SmoothGrad puts {100 * band['SmoothGrad']:.0f}% of its energy in the pleural band "
                       f"({100 * medians['band_area']:.0f}% of the patch), the same network untrained "
                       f"{100 * control['SmoothGrad']:.0f}%: " + (
                           "training moved the saliency towards the pleura" if gap > CLAIM_RESOLUTION else
                           "training moved it away from the pleura" if gap < -CLAIM_RESOLUTION else
                           "no more than the architecture alone puts there"))
    steps = [r.history.steps for r in results]
    return {"top_config": f"{top['model']} on {top['data set']}", "top_acc": 100 * float(top["accuracy"]),
            "mmode_acc": 100 * mmode["accuracy"], "mmode_bacc": 100 * mmode["balanced accuracy"],
            "frozen_flip": frozen, "shuffled_flip": shuffled, "motion_text": motion,
            "n_first_epoch": int((table["best epoch"] == 1).sum()), "n_configs": len(table),
            "n_first_epoch_50": int(((table["best epoch"] == 1) & (table["model"] == "ResNet3D-50")).sum()),
            "steps_min": int(min(steps)), "steps_max": int(max(steps)),
            "patient_acc_best": 100 * float(patient_acc.iloc[0]), "patch_acc_best": 100 * _acc(table, 18, "all_30x30"),
            "patient_points": 100 / max(n_test_patients, 1),
            "patch_sizes": ", ".join(f"{px}" for px in sorted(set(patch_px.values()))),
            "smooth_text": smooth_text, "pleura_text": pleura_text}
