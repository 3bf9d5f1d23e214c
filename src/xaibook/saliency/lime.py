r"""LIME for image classifiers (Ribeiro et al. 2016, KDD), over the ``lime`` package's ``LimeImageExplainer``.

Each image is cut into superpixels; ``num_samples`` binary vectors :math:`z \in \{0,1\}^F` switch
superpixels on (kept) or off (replaced by ``hide``); the model scores every perturbed image; a
weighted linear surrogate :math:`g(z) = b + \sum_f w_f z_f` is fitted to the scores with sample
weights :math:`\pi(z) = \sqrt{\exp(-D(z)^2/\kappa^2)}`, :math:`D` = cosine distance between
:math:`z` and the all-ones vector, :math:`\kappa` = ``kernel_width`` (lime's defaults: 0.25 for
images, the square root as in lime). The map gives every pixel the weight :math:`w_f` of its
superpixel: SIGNED, positive where keeping the superpixel raises the target's score.

What comes from lime, written down (STYLE 11; ``lime`` 0.2.0.1):

* the explainer, its random state (``LimeImageExplainer(random_state=seed)``), its kernel, the
  0/1 design matrix (drawn exactly as ``LimeImageExplainer.data_labels`` draws it, first row all
  ones), the cosine distances and the surrogate fit (``LimeBase.explain_instance_with_data``) with
  ``feature_selection="none"`` (all superpixels kept);
* we replace only ``data_labels``' per-sample Python loop (a deep copy of the image and one mask per
  hidden superpixel, and a tqdm bar per image) by batched torch masking, which gives the same
  perturbed images; ``tests/test_lime.py`` checks that the weights equal ``explain_instance``'s;
* ``surrogate="linear"`` (default) is an ordinary least-squares ``LinearRegression``, as Kierdorf
  & Roscher 2023 (Sect. 2.4: "least squares linear regression"); lime's own default is
  ``Ridge(alpha=1)``, available as ``surrogate="ridge"``; any scikit-learn regressor accepting
  ``sample_weight`` can be passed (it is cloned per image);
* ``hide="mean"`` is lime's ``hide_color=None`` (each superpixel replaced by its per-channel mean,
  for any number of channels); a number is lime's constant ``hide_color``;
* superpixels: ``segmentation="slic"`` (default; scikit-image SLIC, which also segments (T, H, W)
  videos) or ``"quickshift"`` (lime's default, 2-D images only, with lime's settings kernel_size=4,
  max_dist=200, ratio=0.2), or a callable ``(*S, C) array -> (*S) int labels``. Labels are renumbered
  0..F-1 (lime indexes superpixels by label, and SLIC counts from 1). Segmentation sees the input as
  passed (e.g. in [0, 1]); the model sees ``preprocess`` of it.

Scores: ``output="probability"`` (default) scores each perturbed image by the softmax output that
the target selects (lime's ``classifier_fn`` returns class probabilities; MATLAB's ``imageLIME``
explains a softmax channel); ``output="logit"`` by the selected logit itself. The class is frozen at
the unperturbed input, as in :class:`~xaibook.saliency.Occlusion`, so targets must select (linear
combinations of) logits.

Precision: a float16/bfloat16 model (or one run under ``torch.autocast``) is supported: the
segmentation and the superpixel means see the input in at least float32 (numpy has no bfloat16),
the softmax and the scores are computed in at least float32 and the surrogate is fitted in float64
on the CPU; maps come back in the input's dtype.

Determinism: every image is explained with a fresh explainer seeded with ``seed``, so a map does not
depend on the batch it came in. Cost: ``num_samples`` forward passes per image, ``batch_size`` at a
time. Used in chapter 02_cauliflower (Kierdorf & Roscher 2023 found LIME's superpixels not
semantically meaningful on their plant images, Sect. 3.3).
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Callable, ClassVar, Mapping

import numpy as np
import sklearn.base
import sklearn.metrics
import torch
from lime import lime_image
from skimage.segmentation import quickshift, slic
from sklearn.linear_model import LinearRegression, Ridge
from torch import nn

from .._utils.hooks import eval_mode
from .._utils.precision import at_least_float32
from . import _core
from .registry import METHODS
from .targets import Target, class_selection, predicted_class, target_scores

SEGMENTATIONS = ("slic", "quickshift")
SEGMENTATION_DEFAULTS = {"slic": {"n_segments": 50, "compactness": 10.0},
                         "quickshift": {"kernel_size": 4, "max_dist": 200, "ratio": 0.2}}
SURROGATES = ("linear", "ridge")
OUTPUTS = ("probability", "logit")

Segmentation = Callable[[np.ndarray], np.ndarray]


def renumber(segments: np.ndarray) -> np.ndarray:
    """Superpixel labels renumbered 0..F-1 in order of their original value (lime indexes them so)."""
    return np.unique(segments, return_inverse=True)[1].reshape(segments.shape).astype(np.int64)


def segment_means(image: np.ndarray, segments: np.ndarray) -> np.ndarray:
    """Each superpixel replaced by its per-channel mean: lime's ``hide_color=None``, for any channel count.

    Args:
        image: (*S, C); segments: (*S) labels 0..F-1.
    """
    fudged = image.copy()
    for f in np.unique(segments):
        inside = segments == f
        # the same np.mean calls as lime, so the values are bit-identical
        fudged[inside] = [np.mean(image[inside][:, c]) for c in range(image.shape[-1])]
    return fudged


def superpixel_map(segments: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Per-pixel map: each pixel gets the surrogate weight of its superpixel. (*S) labels, (F,) -> (*S)."""
    return weights[segments]


@dataclass(frozen=True)
class LimeExplanation:
    """One image's superpixels (*S), surrogate weights (F,), intercept, weighted R^2 and local prediction."""

    segments: np.ndarray
    weights: np.ndarray
    intercept: float
    r2: float
    local_pred: float


@METHODS.register("lime")
class Lime:
    """LIME saliency (Ribeiro et al. 2016); see the module docstring for what comes from lime.

    Args:
        model: the classifier, taking ``preprocess(x)``.
        target_layer: accepted for the uniform ``METHODS.get(name)(model, target_layer, **options)``
            and ignored: LIME only reads the output.
        num_samples: perturbed images per image (lime's default 1000).
        segmentation: ``"slic"``, ``"quickshift"`` or a callable ``(*S, C) array -> (*S) labels``.
        segmentation_options: keyword arguments for SLIC / quickshift, on top of
            ``SEGMENTATION_DEFAULTS``.
        hide: ``"mean"`` (superpixel mean, lime's default) or a number written into hidden superpixels.
        surrogate: ``"linear"`` (least squares, the paper), ``"ridge"`` (lime's default) or a
            scikit-learn regressor.
        kernel_width: lime's kernel width on cosine distances (0.25).
        output: ``"probability"`` or ``"logit"``: what the surrogate regresses.
        preprocess: applied to (perturbed) inputs before the model, e.g. the ImageNet normalisation,
            so inputs can be passed in [0, 1]; identity when None.
        batch_size: perturbed images per forward pass; maps do not depend on it.
        seed: lime's ``random_state`` for every image (and quickshift's seed).
        device: where the perturbed batches and the model run; the input's device when None.
    """

    name: ClassVar[str] = "LIME"
    contract: ClassVar[str] = "signed"
    paper: ClassVar[str] = "Ribeiro et al. 2016, KDD"

    def __init__(self, model: nn.Module, target_layer: nn.Module | None = None, *, num_samples: int = 1000,
                 segmentation: str | Segmentation = "slic", segmentation_options: Mapping | None = None,
                 hide: str | float = "mean", surrogate: str | sklearn.base.RegressorMixin = "linear",
                 kernel_width: float = 0.25, output: str = "probability",
                 preprocess: Callable[[torch.Tensor], torch.Tensor] | None = None, batch_size: int = 64,
                 seed: int = 0, device: str | torch.device | None = None) -> None:
        _core.check_at_least("num_samples", num_samples, 2)
        _core.check_at_least("batch_size", batch_size, 1)
        if isinstance(segmentation, str) and segmentation not in SEGMENTATIONS:
            raise ValueError(f"segmentation must be one of {SEGMENTATIONS} or a callable, got {segmentation!r}")
        if isinstance(hide, str) and hide != "mean":
            raise ValueError(f"hide must be 'mean' or a number, got {hide!r}")
        if isinstance(surrogate, str) and surrogate not in SURROGATES:
            raise ValueError(f"surrogate must be one of {SURROGATES} or a scikit-learn regressor, got {surrogate!r}")
        _core.check_one_of("output", output, OUTPUTS)
        self.model = model
        self.num_samples = num_samples
        self.segmentation = segmentation
        self.segmentation_options = dict(segmentation_options or {})
        self.hide = hide
        self.surrogate = surrogate
        self.kernel_width = kernel_width
        self.output = output
        self.preprocess = preprocess
        self.batch_size = batch_size
        self.seed = seed
        self.device = device

    # --- pieces ---------------------------------------------------------------------------------

    def segment(self, image: np.ndarray) -> np.ndarray:
        """Superpixels of one (*S, C) image, renumbered 0..F-1."""
        if not isinstance(self.segmentation, str):
            segments = np.asarray(self.segmentation(image))
        else:
            options = {**SEGMENTATION_DEFAULTS[self.segmentation], **self.segmentation_options}
            if self.segmentation == "slic":
                segments = slic(image, channel_axis=-1, start_label=0, **options)
            else:
                if image.ndim != 3:
                    raise ValueError(f"quickshift segments 2-D images only, got spatial shape {image.shape[:-1]}; "
                                     f"use segmentation='slic' for videos")
                segments = quickshift(image, rng=self.seed, **options)
        if segments.shape != image.shape[:-1]:
            raise ValueError(f"segmentation returned shape {segments.shape} for an image of spatial shape "
                             f"{image.shape[:-1]}")
        return renumber(segments)

    def regressor(self) -> sklearn.base.RegressorMixin:
        """A fresh surrogate for one image."""
        if not isinstance(self.surrogate, str):
            return sklearn.base.clone(self.surrogate)
        if self.surrogate == "linear":
            return LinearRegression()
        return Ridge(alpha=1, fit_intercept=True)  # lime's default surrogate

    def scores(self, images: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]]
               ) -> list[np.ndarray]:
        """Target scores of the perturbed images of several images (model in eval mode, no grad).

        The perturbations of all images run ``batch_size`` at a time, across image boundaries, so
        small ``num_samples`` still fill a batch; the scores do not depend on the batching.

        Args:
            images: per image (x, fudged, segments, data, selection): (C, *S) image and its hidden
                version, (*S) superpixel labels, (num_samples, F) 0/1 design matrix, (K,) class selection.
        Returns:
            per image, (num_samples,) float64 scores.
        """
        pairs = [(i, j) for i, item in enumerate(images) for j in range(len(item[3]))]
        out: list[list[torch.Tensor]] = [[] for _ in images]
        for lo in range(0, len(pairs), self.batch_size):
            runs = []  # consecutive samples of one image: (image, first sample, count)
            for i, group in itertools.groupby(pairs[lo:lo + self.batch_size], key=lambda pair: pair[0]):
                rows = [j for _, j in group]
                runs.append((i, rows[0], len(rows)))
            parts = []
            for i, first, count in runs:
                x, fudged, segments, data, _ = images[i]
                hidden = data[first:first + count][:, segments] == 0  # (count, *S)
                parts.append(torch.where(hidden[:, None], fudged, x))
            batch = torch.cat(parts)
            logits = self.model(batch if self.preprocess is None else self.preprocess(batch))
            logits = logits.to(at_least_float32(logits.dtype))
            values = (logits.softmax(1) if self.output == "probability" else logits).split([c for _, _, c in runs])
            for (i, _, _), v in zip(runs, values):
                out[i].append((images[i][4] * v).sum(1))
        return [torch.cat(o).cpu().double().numpy() for o in out]  # to the CPU first: MPS has no float64

    # --- public ---------------------------------------------------------------------------------

    def explain(self, inputs: torch.Tensor, target: Target = predicted_class) -> list[LimeExplanation]:
        """Superpixels and surrogate weights of each image.

        Args:
            inputs: (N, C, *S) images (S = H, W) or videos (S = T, H, W; SLIC or a callable only).
            target: callable from logits (N, K) to scores (N,), selecting (combinations of) logits.
        Returns:
            one :class:`LimeExplanation` per image.
        """
        _core.check_inputs(inputs)
        device = inputs.device if self.device is None else torch.device(self.device)
        x_all = inputs.detach().to(device)
        result = []
        with eval_mode(self.model), torch.no_grad():
            logits = self.model(x_all if self.preprocess is None else self.preprocess(x_all))
            logits = logits.to(at_least_float32(logits.dtype))
            selection = class_selection(target, logits)  # (N, K), frozen at the unperturbed input
            prepared = []
            for k, (x, sel) in enumerate(zip(x_all, selection)):
                image = x.movedim(0, -1).cpu().to(at_least_float32(x.dtype)).numpy()  # (*S, C), lime's layout
                segments = self.segment(image)
                n_features = int(segments.max()) + 1
                fudged = segment_means(image, segments) if self.hide == "mean" else np.full_like(image, self.hide)
                if np.array_equal(fudged, image):
                    raise ValueError(
                        f"LIME: hiding superpixels leaves input {k} unchanged ({n_features} superpixels on "
                        f"{segments.size} pixels, hide={self.hide!r}), so every perturbed input scores the same "
                        f"and every weight would be zero. With hide='mean' this means one pixel per superpixel: "
                        f"ask for fewer (segmentation_options={{'n_segments': ...}}) or hide with a constant.")
                explainer = lime_image.LimeImageExplainer(kernel_width=self.kernel_width, feature_selection="none",
                                                          random_state=self.seed)
                # drawn exactly as LimeImageExplainer.data_labels draws it
                data = explainer.random_state.randint(0, 2, self.num_samples * n_features)
                data = data.reshape((self.num_samples, n_features))
                data[0, :] = 1
                prepared.append((explainer, segments, data, (
                    x, torch.as_tensor(fudged, dtype=x.dtype, device=device).movedim(-1, 0),
                    torch.as_tensor(segments, device=device),
                    torch.as_tensor(data, device=device), sel)))
            all_scores = self.scores([p[3] for p in prepared])
        for (explainer, segments, data, _), scores in zip(prepared, all_scores):
            n_features = data.shape[1]
            distances = sklearn.metrics.pairwise_distances(data, data[0].reshape(1, -1), metric="cosine").ravel()
            intercept, local_exp, r2, local_pred = explainer.base.explain_instance_with_data(
                data, scores[:, None], distances, 0, n_features, feature_selection="none",
                model_regressor=self.regressor())
            weights = np.zeros(n_features)
            for f, w in local_exp:
                weights[f] = w
            result.append(LimeExplanation(segments, weights, float(intercept), float(r2),
                                          float(np.ravel(local_pred)[0])))
        return result

    def attribute(self, inputs: torch.Tensor, target: Target = predicted_class) -> torch.Tensor:
        """Per-pixel LIME maps: each pixel carries its superpixel's signed surrogate weight.

        Args:
            inputs: (N, C, *S) images or videos (in the range ``preprocess`` expects, e.g. [0, 1]).
            target: callable from logits (N, K) to scores (N,).
        Returns:
            (N, *S) raw, signed maps in the input's dtype on the input's device. Used in chapter
            02_cauliflower.
        """
        maps = [superpixel_map(e.segments, e.weights) for e in self.explain(inputs, target)]
        return torch.as_tensor(np.stack(maps), dtype=inputs.dtype, device=inputs.device)
