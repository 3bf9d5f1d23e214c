r"""Occlusion sensitivity (Zeiler & Fergus 2014, ECCV, Sect. 4.2 and Fig. 7): slide a grey box, watch the score.

A ``patch``-sized window (all channels) slides over the input with step ``stride``; inside it the
input is replaced by ``baseline`` and the target score is recomputed. Each pixel's value is the mean,
over all windows covering it, of the score change (captum's ``Occlusion``):

.. math:: M_p = \frac{1}{|W_p|} \sum_{w \in W_p} \sigma\,\big(S(x) - S(x_{w \leftarrow b})\big),
   \qquad W_p = \{w : p \in w\},

with :math:`\sigma = +1` for ``sign="drop"`` and :math:`-1` for ``sign="rise"``.

Sign conventions, written down (STYLE 11):

* ``sign="drop"`` (default; captum 0.9 ``Occlusion``): :math:`S(x) - S(x_{occ})`. Positive where
  hiding the region lowers the score, i.e. the region supports the class.
* ``sign="rise"``: :math:`S(x_{occ}) - S(x)`, the convention of Kierdorf & Roscher 2023 (cauliflower,
  Sect. 2.2, "OSM"). They describe their maps by colour: a blue pixel is one where occluding it
  lowered the score, which they read as evidence for the examined class, and a red pixel one where
  occluding it raised the score, read as evidence for another class. With a diverging map that draws
  low values blue and high values red (as Zeiler & Fergus' Fig. 7, which plots the occluded
  probability itself), that is the occluded-minus-original score: LOW (negative) values mark support
  for the class. Chapter 02_cauliflower keeps this convention. The paper uses ``stride=2``, ``patch=11``.

Edges, as captum: along an axis of size :math:`D`, windows start at :math:`0, s, 2s, \dots,
\lceil (D - P)/s \rceil\, s`; when they do not tile the axis exactly, the last window runs past the far
edge and is cut there (it occludes fewer pixels), so every pixel is covered at least once. Unlike
captum, which refuses them, windows longer than the axis are cut to the axis (one window covers it
all, and the map is constant along that axis). ``stride`` may not exceed ``patch`` (pixels between
windows would be covered by none).

Cost: :math:`N \prod_a (\lceil (D_a - P_a)/s_a \rceil + 1)` forward passes plus N for the original
inputs, e.g. 107 x 107 = 11 449 per 224 x 224 image at patch 11, stride 2; they run ``batch_size`` at
a time, and memory is bounded by ``batch_size``, never by the number of windows. Images
(N, C, H, W) and videos (N, C, T, H, W) share one code path; for videos give ``patch``/``stride`` as
(T, H, W) tuples (an int is used on every axis, time included). Used in chapter 02_cauliflower.

Precision: maps come back in the input's dtype. With a float16/bfloat16 model (or under
``torch.autocast``) the scores, their differences and the sum over the windows covering each pixel
(121 of them at patch 11) are computed in at least float32; only the model's forward runs in low
precision.
"""
from __future__ import annotations

import math
from typing import ClassVar, Sequence

import torch
from torch import nn

from .._utils.hooks import eval_mode
from .._utils.precision import at_least_float32
from . import _core
from .registry import METHODS
from .targets import Target, class_selection, predicted_class, target_scores

SIGNS = ("drop", "rise")


def _per_axis(value: int | Sequence[int], n_axes: int, what: str) -> tuple[int, ...]:
    values = (value,) * n_axes if isinstance(value, int) else tuple(value)
    if len(values) != n_axes or any(not isinstance(v, int) or v < 1 for v in values):
        raise ValueError(f"{what} must be a positive int or {n_axes} positive ints (one per spatial axis), "
                         f"got {value!r}")
    return values


def window_starts(size: int, patch: int, stride: int) -> torch.Tensor:
    r"""Start indices of the windows along one axis, as captum: :math:`0, s, \dots, \lceil (D-P)/s\rceil s`.

    A window longer than the axis is cut to it (a single window, start 0).
    """
    last = max(0, math.ceil((size - patch) / stride)) * stride
    return torch.arange(0, last + 1, stride)


def window_masks(starts: Sequence[torch.Tensor], patch: Sequence[int], size: Sequence[int]) -> torch.Tensor:
    """(B, *S) boolean masks of B windows, each cut at the far edge.

    Args:
        starts: one (B,) tensor of start indices per spatial axis.
        patch, size: window and input length per spatial axis.
    """
    mask = None
    for a, (start, p, d) in enumerate(zip(starts, patch, size)):
        pos = torch.arange(d, device=start.device)
        axis = (pos >= start[:, None]) & (pos < start[:, None] + p)  # (B, D_a)
        axis = axis.reshape(axis.shape[0], *([1] * a), d, *([1] * (len(size) - a - 1)))
        mask = axis if mask is None else mask & axis
    return mask


@METHODS.register("occlusion")
class Occlusion:
    """Occlusion sensitivity (Zeiler & Fergus 2014); see the module docstring for signs, edges and cost.

    Args:
        model: the classifier.
        target_layer: accepted for the uniform ``METHODS.get(name)(model, target_layer, **options)``
            and ignored: occlusion only reads the output.
        patch: window length per spatial axis (int for all axes, or one int per axis); default 11 as
            Kierdorf & Roscher 2023.
        stride: step per spatial axis; default 2 as Kierdorf & Roscher 2023. At most ``patch``.
        baseline: the value written into the window: a number, or a tensor broadcastable to one
            sample (C, *S), e.g. per-channel means of shape (C, 1, 1).
        batch_size: occluded inputs per forward pass; maps do not depend on it.
        sign: ``"drop"`` (original minus occluded, positive = supports the class) or ``"rise"``
            (occluded minus original, the cauliflower paper's convention).

    The target is read through its gradient w.r.t. the logits of the UNOCCLUDED input, so
    ``predicted_class`` scores every occluded copy on the class predicted for the original (as
    captum with a fixed ``target``), not on whatever the occluded copy predicts. Targets must
    therefore select (linear combinations of) logits, such as ``class_score`` or ``predicted_class``.
    The caller's model is never mutated (eval mode inside a context that restores each module's
    flag, no hooks), and the input is left as it was. Used in chapter 02_cauliflower.
    """

    name: ClassVar[str] = "Occlusion"
    contract: ClassVar[str] = "signed"
    #: what the model sees of the inputs, and where it runs: None = the inputs as given, where they are
    #: (only LIME transforms them); SmoothGrad fixes its class through them
    preprocess: ClassVar[None] = None
    device: ClassVar[None] = None
    paper: ClassVar[str] = "Zeiler & Fergus 2014, ECCV"

    def __init__(self, model: nn.Module, target_layer: nn.Module | None = None, *,
                 patch: int | Sequence[int] = 11, stride: int | Sequence[int] = 2,
                 baseline: float | torch.Tensor = 0.0, batch_size: int = 64, sign: str = "drop") -> None:
        _core.check_at_least("batch_size", batch_size, 1)
        _core.check_one_of("sign", sign, SIGNS)
        self.model = model
        self.patch = patch
        self.stride = stride
        self.baseline = baseline
        self.batch_size = batch_size
        self.sign = sign

    def attribute(self, inputs: torch.Tensor, target: Target = predicted_class) -> torch.Tensor:
        r"""Occlusion maps :math:`M_p` (module docstring) for a batch.

        Args:
            inputs: (N, C, *S) images (S = H, W) or videos (S = T, H, W).
            target: callable from logits (N, K) to scores (N,), linear in the logits.
        Returns:
            (N, *S) raw, signed, detached maps in the input's dtype, accumulated in at least
            float32. Used in chapter 02_cauliflower.
        """
        _core.check_inputs(inputs)
        x = inputs.detach()
        n, _, *size = x.shape
        patch = _per_axis(self.patch, len(size), "patch")
        stride = _per_axis(self.stride, len(size), "stride")
        if any(s > p for s, p in zip(stride, patch)):
            raise ValueError(f"stride {stride} may not exceed patch {patch}: pixels between windows would be "
                             f"occluded by none")
        patch = tuple(min(p, d) for p, d in zip(patch, size))
        starts = [window_starts(d, p, s).to(x.device) for d, p, s in zip(size, patch, stride)]
        counts = [len(s) for s in starts]
        n_windows = math.prod(counts)
        baseline = torch.as_tensor(self.baseline, dtype=x.dtype, device=x.device)
        acc = at_least_float32(x.dtype)
        total = torch.zeros(n, *size, dtype=acc, device=x.device)

        with eval_mode(self.model), torch.no_grad():
            logits = self.model(x).to(acc)
            selection = class_selection(target, logits)  # (N, K), the class frozen at the unoccluded input
            original = target_scores(target, logits, n)
            for lo in range(0, n * n_windows, self.batch_size):
                flat = torch.arange(lo, min(lo + self.batch_size, n * n_windows), device=x.device)
                sample, window = flat // n_windows, flat % n_windows
                first = []
                for a in reversed(range(len(size))):  # unravel the window index, last axis fastest
                    first.append(starts[a][window % counts[a]])
                    window = window // counts[a]
                mask = window_masks(first[::-1], patch, size)  # (B, *S)
                occluded = torch.where(mask[:, None], baseline, x[sample])
                scores = (selection[sample] * self.model(occluded).to(acc)).sum(1)
                change = original[sample] - scores if self.sign == "drop" else scores - original[sample]
                total.index_add_(0, sample, change.reshape(-1, *([1] * len(size))) * mask)

        # how many windows cover each pixel: the same for every sample
        covered = torch.ones((), dtype=acc, device=x.device)
        for a, (start, p, d) in enumerate(zip(starts, patch, size)):
            pos = torch.arange(d, device=x.device)
            axis = ((pos >= start[:, None]) & (pos < start[:, None] + p)).sum(0)
            covered = covered * axis.reshape(*([1] * a), d, *([1] * (len(size) - a - 1)))
        return (total / covered).to(x.dtype)
