r"""Score-CAM (Wang et al. 2020, CVPRW): channel weights from the model's score on masked inputs.

Gradient-free: each channel :math:`A^k` of the target layer, upsampled to the input size and
min-max scaled to [0, 1] (:math:`H^k`), masks the input; the target class's softmax probability on
:math:`x \circ H^k` is the channel's weight, and the map is :math:`\mathrm{ReLU}(\sum_k w_k A^k)`.
Images and videos share one path (bilinear or trilinear upsampling). Used in chapter 04_steel_defects.

Formula variants, written down (STYLE 11):

* ``variant="wang2020"`` (default), as the authors' code (haofanwang/Score-CAM, ``scorecam.py``
  and ``scorecam_batch.py``): :math:`w_k = \mathrm{softmax}(f(x \circ H^k))_c`, no baseline
  subtracted (the paper's Increase of Confidence, Sect. 3, subtracts :math:`f(x_b)`; the code
  does not); a constant channel gets weight 0 (the code skips it) and is not run through the model.
* ``variant="pytorch-grad-cam"`` (pytorch-grad-cam 1.5.7, ``score_cam.py``):
  :math:`w = \mathrm{softmax}_k(S_c(x \circ H^k))`, the softmax taken over CHANNELS of the raw
  target score (the logit for ``ClassifierOutputTarget``) rather than over classes. It upsamples
  masks with ``align_corners=True`` (``UpsamplingBilinear2d``, 2-D only, so no video) and adds
  1e-8 to the masks' range; we use ``align_corners=False`` as the authors and our Grad-CAM do, and
  exclude constant channels from the channel softmax where pytorch-grad-cam scores a blank input.
* Both: ReLU on the low-resolution weighted sum, then upsampling, as our Grad-CAM and
  pytorch-grad-cam; the authors' code sums upsampled activations and applies the ReLU afterwards.

The target is read through its gradient w.r.t. the logits at the UNMASKED input (one-hot for
``class_score`` and ``predicted_class``), so ``predicted_class`` scores every masked copy on the
class predicted for the original input, as the authors' code does.

Precision: with a float16/bfloat16 model (or under ``torch.autocast``) the masks, the softmax, the
scores and so the channel weights are computed in at least float32; maps come back in the input's
dtype (as every CAM's normalised maps).
"""
from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn

from .._utils.hooks import capture, eval_mode
from .._utils.precision import at_least_float32
from . import _core
from .cam import BaseCAM
from .registry import METHODS
from .targets import class_selection

VARIANTS = ("wang2020", "pytorch-grad-cam")


def scorecam_masks(activations: torch.Tensor, size: tuple[int, ...]) -> torch.Tensor:
    r"""Score-CAM masks :math:`H^k = \mathrm{minmax}(\mathrm{up}(A^k))` (Wang et al. 2020, Sect. 3).

    Args:
        activations: (B, *S') single-channel feature maps (one channel of one sample per row).
        size: the input's spatial size S.
    Returns:
        (B, *S) masks in [0, 1], in at least float32; zeros for a constant map.
    """
    return _core.minmax(_core.upsample(activations.to(at_least_float32(activations.dtype)), size))


def constant_channels(activations: torch.Tensor) -> torch.Tensor:
    """(N, K, *S') -> (N, K) booleans, True where a channel is constant (so is its upsampled map)."""
    flat = activations.flatten(2)
    return flat.amax(2) == flat.amin(2)


def scorecam_weights(scores: torch.Tensor, valid: torch.Tensor, variant: str) -> torch.Tensor:
    r"""(N, K) channel weights from (N, K) masked-input scores; invalid channels weigh 0.

    ``"wang2020"``: the scores (already softmax probabilities of the target class).
    ``"pytorch-grad-cam"``: :math:`\mathrm{softmax}_k` over the valid channels of the raw scores.
    """
    if variant == "wang2020":
        return torch.where(valid, scores, torch.zeros_like(scores))
    weights = scores.masked_fill(~valid, float("-inf")).softmax(1)
    return torch.where(valid, weights, torch.zeros_like(weights))  # a row with no valid channel is NaN


@METHODS.register("scorecam")
class ScoreCAM(BaseCAM):
    """Score-CAM (Wang et al. 2020, CVPRW); see the module docstring for the variants.

    Args:
        model, target_layer: the classifier and the layer whose activations mask the input.
        batch_size: masked inputs per forward pass (Lorentz et al. 2021 compare 1, 25, 50). The
            default 25 is their middle setting: 50 was barely faster. Maps do not depend on it.
        variant: ``"wang2020"`` (default) or ``"pytorch-grad-cam"``.

    The caller's model is never mutated (eval mode inside a context that restores each module's
    flag, hook removed in ``finally``), and the input is left as it was. Used in chapter 04_steel_defects.
    """

    name: ClassVar[str] = "ScoreCAM"
    paper: ClassVar[str] = "Wang et al. 2020, CVPRW"

    def __init__(self, model: nn.Module, target_layer: nn.Module, *, batch_size: int = 25,
                 variant: str = "wang2020") -> None:
        super().__init__(model, target_layer)
        _core.check_at_least("batch_size", batch_size, 1)
        _core.check_one_of("variant", variant, VARIANTS)
        self.batch_size = batch_size
        self.variant = variant

    def masked_scores(self, x: torch.Tensor, activations: torch.Tensor, valid: torch.Tensor,
                      selection: torch.Tensor) -> torch.Tensor:
        """(N, K) target scores of the masked inputs of valid channels, ``batch_size`` per forward.

        Scores are float32 (float64 for a float64 input) whatever the model's dtype: the softmax
        and the selection of a float16/bfloat16 model's logits are computed in at least float32.
        """
        acc = at_least_float32(x.dtype)
        scores = torch.zeros(valid.shape, dtype=acc, device=x.device)
        pairs = valid.nonzero()
        for start in range(0, pairs.shape[0], self.batch_size):
            n, k = pairs[start:start + self.batch_size].unbind(1)
            # masks are built chunk by chunk: all K at input size would hold K copies of the input
            masks = scorecam_masks(activations[n, k], tuple(x.shape[2:]))
            logits = self.model(x[n] * masks.unsqueeze(1).to(x.dtype)).to(acc)
            out = logits.softmax(1) if self.variant == "wang2020" else logits
            scores[n, k] = (selection[n].to(acc) * out).sum(1)
        return scores

    def channel_weights(self, inputs, target):
        """Activations of the clean input and the masked-input scores as channel weights (Sect. 3)."""
        x = inputs.detach()
        with eval_mode(self.model), torch.no_grad():
            with capture(self.target_layer) as store:
                logits = self.model(x)
            activations = store.tensor().detach()
            selection = class_selection(target, logits)
            if self.variant == "wang2020" and logits.shape[1] < 2:
                raise ValueError("the wang2020 variant scores softmax probabilities and needs at least two "
                                 "classes; use variant='pytorch-grad-cam' for a single-logit model")
            valid = ~constant_channels(activations)
            scores = self.masked_scores(x, activations, valid, selection)
        return activations, scorecam_weights(scores, valid, self.variant)
