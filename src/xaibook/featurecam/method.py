r"""Feature CAM (Clement, Yang & Cheng): a Grad-CAM map fused with a HED edge map, and explanation maps.

The paper builds three *inputs* from an image's HED edge map :math:`E` (edge probability in
[0, 1]): the edges alone, and the image blended with them at 2:1 and 1:1. It does not define the
blend; we take the image's luminance :math:`Y` (ITU-R BT.601, in [0, 1]) and

* input 1: :math:`F_1 = E`;
* input 2: :math:`F_2 = (2 Y + E) / 3` (image : edges = 2 : 1);
* input 3: :math:`F_3 = (Y + E) / 2` (1 : 1).

Each input is fused with a CAM :math:`M` (in [0, 1], at the image's size) in three ways, nine
combinations per CAM:

* ``add`` (Eq. 7): :math:`k F + M` with :math:`k = 0.25`;
* ``mul`` (Eq. 8): :math:`F \circ M`;
* ``cmul`` (Eq. 9): :math:`(1 - F) \circ M`.

Grey inputs rather than colour ones: a fused map must be one channel to be thresholded, and the
paper shows its maps as single heat maps. Every fused map is min-max scaled to [0, 1].

Explanation map (the paper's Fig. 3): the pixels whose map value is at or above the map's 80th
percentile keep the image's pixels, all others are black (zero). The paper passes it to the same
classifier and reports the share whose top-1 class equals the original image's (*right
classification*) and the mean softmax probability of the original class (*confidence*).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

INPUTS = {1: "edges", 2: "image:edges 2:1", 3: "image:edges 1:1"}
FUSIONS = {"add": "k F + M (Eq. 7)", "mul": "F o M (Eq. 8)", "cmul": "(1 - F) o M (Eq. 9)"}
K = 0.25
PERCENTILE = 80.0
LUMA = (0.299, 0.587, 0.114)


@dataclass(frozen=True)
class Combination:
    """One of the nine Feature CAM combinations: an input (1-3) and a fusion."""

    input: int
    fusion: str

    @property
    def name(self) -> str:
        return f"{self.fusion} · input {self.input}"


COMBINATIONS = tuple(Combination(i, f) for f in FUSIONS for i in INPUTS)
#: the paper's "Ours 1-5" as we read Sect. 4: all three additions (input 2 best, then 3, then 1)
#: and the complemented products with inputs 3 and 1. The paper never names them; this mapping is
#: our inference from its text, stated in the chapter.
TOP5 = (Combination(2, "add"), Combination(3, "add"), Combination(1, "add"), Combination(3, "cmul"),
        Combination(1, "cmul"))


def luminance(images: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) RGB in [0, 1] -> (N, H, W) luminance in [0, 1]."""
    w = torch.tensor(LUMA, dtype=images.dtype, device=images.device)
    return torch.einsum("nchw,c->nhw", images, w)


def feature_inputs(images: torch.Tensor, edges: torch.Tensor) -> dict[int, torch.Tensor]:
    """The three inputs (N, H, W) in [0, 1] from RGB images (N, 3, H, W) in [0, 1] and edges (N, H, W) in [0, 1]."""
    _check_unit("images", images)
    _check_unit("edges", edges)
    y = luminance(images)
    return {1: edges, 2: (2 * y + edges) / 3, 3: (y + edges) / 2}


def minmax(maps: torch.Tensor) -> torch.Tensor:
    """Scale each (H, W) map of (N, H, W) to [0, 1]; a constant map becomes zeros."""
    lo = maps.amin(dim=(1, 2), keepdim=True)
    span = maps.amax(dim=(1, 2), keepdim=True) - lo
    return torch.where(span > 0, (maps - lo) / span.clamp_min(1e-12), torch.zeros_like(maps))


def fuse(cam: torch.Tensor, feature: torch.Tensor, fusion: str, k: float = K) -> torch.Tensor:
    """A Feature CAM map (N, H, W) in [0, 1] from a CAM and an input, both (N, H, W) in [0, 1]."""
    _check_unit("cam", cam)
    _check_unit("feature", feature)
    if fusion == "add":
        out = k * feature + cam
    elif fusion == "mul":
        out = feature * cam
    elif fusion == "cmul":
        out = (1 - feature) * cam
    else:
        raise ValueError(f"fusion must be one of {sorted(FUSIONS)}, got {fusion!r}")
    return minmax(out)


def all_combinations(cam: torch.Tensor, inputs: dict[int, torch.Tensor], k: float = K) -> dict[Combination, torch.Tensor]:
    """The nine Feature CAM maps of one CAM."""
    return {c: fuse(cam, inputs[c.input], c.fusion, k) for c in COMBINATIONS}


def explanation_mask(maps: torch.Tensor, percentile: float = PERCENTILE) -> torch.Tensor:
    """(N, H, W) bool: pixels at or above each map's ``percentile``-th percentile (the paper's 80th).

    A map's floor is never kept: where the percentile falls on the map's minimum (a post-ReLU
    Grad-CAM that is exactly zero on 80% or more of the image), only the pixels above it are kept,
    not the whole image; a constant map keeps nothing.
    """
    if not 0 <= percentile < 100:
        raise ValueError(f"percentile must be in [0, 100), got {percentile}")
    from ..saliency._core import check_finite

    check_finite(maps, "maps to threshold")          # a NaN would sort last and silently blacken the image
    flat = maps.flatten(1)
    thresholds = torch.quantile(flat.double(), percentile / 100, dim=1).to(maps.dtype)[:, None, None]
    at_floor = (thresholds <= flat.min(1).values[:, None, None])
    return torch.where(at_floor, maps > thresholds, maps >= thresholds)


def explanation_maps(images: torch.Tensor, maps: torch.Tensor, percentile: float = PERCENTILE) -> torch.Tensor:
    """Images (N, C, H, W) kept where the map is in its top ``100 - percentile`` %, black (0) elsewhere."""
    return images * explanation_mask(maps, percentile)[:, None].to(images.dtype)


def right_and_confidence(probs_original: torch.Tensor, probs_explained: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Per image: whether the explanation map's top-1 is the original image's top-1, and its softmax
    probability of that class. Both (N, K) softmax outputs."""
    original = probs_original.argmax(1)
    right = (probs_explained.argmax(1) == original).cpu().numpy()
    conf = probs_explained.gather(1, original[:, None])[:, 0].cpu().numpy()
    return right, conf


def _check_unit(name: str, t: torch.Tensor) -> None:
    if not torch.isfinite(t).all():
        raise ValueError(f"{name} contain NaN or infinite values")
    if t.numel() and (t.min() < -1e-6 or t.max() > 1 + 1e-6):
        raise ValueError(f"{name} must lie in [0, 1], got [{float(t.min()):.3g}, {float(t.max()):.3g}]")
