"""A synthetic stand-in for the Severstal steel defect images (chapter 04_steel_defects).

The real data need a Kaggle account that has accepted the competition rules, and no network
reaches Kaggle here. This stand-in writes the competition's layout (``train_images/*.jpg``,
1600 x 256, grey stored as 3-channel JPEG, and ``train.csv`` in the current
``ImageId,ClassId,EncodedPixels`` format), so the chapter runs the real-data path unchanged.

What it simulates, and why:

* **The strip.** The camera looks across a running strip: the 1600 columns span the strip's
  width and the strip runs along the 256 rows, so the rolling direction is vertical. Hence the
  black background appears at the left or right end of some images, where the strip's edge is in
  view (with a slight tilt and a darker bevel), in ``BACKGROUND_PROB`` of the images and wide
  enough to fill whole patches: the 95% rule of the paper has something to drop.
* **Surface.** A grey level of 85-135, uneven illumination (slow cosine and linear trends across
  the strip, a weaker one along it), fine striation along the rolling direction (a per-column
  profile), faint chatter marks across it (a per-row profile), low-frequency mottling and grain
  elongated along the rolling direction.
* **Defects**, one look per competition class (the competition never named its classes; these
  looks follow what its images show and the chapter's brief):

  1. small pits/spots, dark with a faint bright rim, slightly elongated along the rolling
     direction, in clusters of 6-40; annotated as an ellipse around the cluster;
  2. fine vertical scratches (1-2 px, 25-110 px long, bright), in groups of 1-4; annotated as
     thin bands around each scratch;
  3. elongated streaks along the rolling direction, from one thin scratch to wide scratched
     areas, often the full image height, dark or bright, slightly slanted; each streak annotated as a band a
     little wider than the streak (a median class-3 patch is about 9% defect);
  4. large dark blotches (rolled-in scale): irregular, elongated along the rolling direction,
     80-450 px wide, with a flaky texture; annotated a few pixels beyond the blotch.

* **Frequencies.** ``DEFECTIVE_SHARE`` = 53% of the images carry a defect ("roughly half" in the
  paper). A defective image carries one of ``CLASS_SETS``: class 3 in 74% of them, class 1 in
  14%, class 4 in 12%, class 2 in 4%, two classes in 6%. The number of regions per class and
  their sizes were tuned so that cutting the defective images as the paper did gives patch
  shares close to its Table 1 (no defect 54%, class 3 34.9%, 4 5.3%, 1 4.2%, 2 0.6%,
  multiple 0.8%). 40% of the images show the strip's edge, which drops about 12% of the
  patches: a guess, as the paper does not say how many patches it dropped.

Everything is drawn from one seed: the same seed gives the same bytes. Written atomically.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image
from scipy.ndimage import zoom

from .._utils.io import atomic_directory, rebuild_unless_stamped
from .dataset import CURRENT_HEADER, IMAGE_HEIGHT as H, IMAGE_WIDTH as W, TRAIN_CSV, TRAIN_IMAGES
from .rle import rle_encode

STANDIN_VERSION = 2   # bump when the renderer changes, so cached folders are re-rendered
DEFECTIVE_SHARE = 0.53
BACKGROUND_PROB = 0.4
JPEG_QUALITY = 90

# class sets of a defective image and their probabilities (tuned, see the module docstring)
CLASS_SETS = ((3,), (1,), (4,), (2,), (3, 4), (1, 3), (1, 2), (2, 3))
CLASS_SET_PROBS = (0.70, 0.12, 0.095, 0.024, 0.022, 0.015, 0.008, 0.005)

_BANK = (512, 4096)     # noise fields sampled at random offsets: fast, and no visible repeats


class _Banks:
    def __init__(self, rng: np.random.Generator):
        grain = rng.standard_normal(_BANK, dtype=np.float32)
        # averaging along rows elongates the grain in the rolling direction
        self.grain = (grain + np.roll(grain, 1, 0) + np.roll(grain, 2, 0)) / np.sqrt(3.0, dtype=np.float32)
        coarse = rng.standard_normal((_BANK[0] // 32, _BANK[1] // 48)).astype(np.float32)
        self.mottle = zoom(coarse, (32, 48), order=1).astype(np.float32)

    def take(self, bank: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        y = int(rng.integers(0, bank.shape[0] - H))
        x = int(rng.integers(0, bank.shape[1] - W))
        out = bank[y:y + H, x:x + W]
        return out[:, ::-1] if rng.random() < 0.5 else out


def _smooth1d(n: int, width: int, rng: np.random.Generator) -> np.ndarray:
    kernel = np.ones(width, dtype=np.float32) / np.sqrt(width)
    return np.convolve(rng.standard_normal(n + width).astype(np.float32), kernel, mode="same")[width // 2: width // 2 + n]


def _surface(rng: np.random.Generator, banks: _Banks) -> np.ndarray:
    x = np.linspace(0, 1, W, dtype=np.float32)
    y = np.linspace(0, 1, H, dtype=np.float32)
    across = (1 + rng.uniform(0, 0.12) * np.cos(2 * np.pi * (rng.uniform(0.3, 1.2) * x + rng.uniform())))
    across = across + rng.uniform(-0.2, 0.2) * (x - 0.5)
    along = 1 + rng.uniform(-0.08, 0.08) * (y - 0.5) + rng.uniform(0, 0.04) * np.cos(np.pi * y * rng.uniform(0.5, 2))
    img = np.multiply.outer(np.float32(rng.uniform(85, 135)) * along, across)
    img += rng.uniform(2.5, 6) * _smooth1d(W, 3, rng) + rng.uniform(1, 3) * _smooth1d(W, 25, rng)   # striation
    img += (rng.uniform(0.5, 2.5) * _smooth1d(H, 4, rng))[:, None]                                  # chatter
    img += rng.uniform(1.5, 4) * banks.take(banks.mottle, rng)
    img += rng.uniform(3, 6) * banks.take(banks.grain, rng)
    return img


def _window(x0: float, x1: float, y0: float, y1: float) -> tuple[slice, slice, np.ndarray, np.ndarray]:
    # clamped to the image; a window wholly outside it is empty, not negative
    xa, ya = min(W, max(0, int(np.floor(x0)))), min(H, max(0, int(np.floor(y0))))
    xs = slice(xa, max(xa, min(W, int(np.ceil(x1)) + 1)))
    ys = slice(ya, max(ya, min(H, int(np.ceil(y1)) + 1)))
    yy, xx = np.mgrid[ys, xs].astype(np.float32)
    return ys, xs, yy, xx


def _pits(img, mask, cx, rng):
    """Class 1: a cluster of small dark pits with a faint bright rim."""
    cy = rng.uniform(20, H - 20)
    rx, ry = rng.uniform(12, 70), rng.uniform(10, 60)
    n = int(rng.integers(6, 41))
    u = np.clip(rng.normal(0, 0.45, (n, 2)), -1, 1)
    for (du, dv), r, depth in zip(u, rng.uniform(0.8, 3.5, n), rng.uniform(35, 70, n)):
        sx, sy = cx + rx * du, cy + ry * dv
        ys, xs, yy, xx = _window(sx - 4 * r - 2, sx + 4 * r + 2, sy - 6 * r - 2, sy + 6 * r + 2)
        d2 = (xx - sx) ** 2 + ((yy - sy) / 1.5) ** 2
        img[ys, xs] += -depth * np.exp(-d2 / r ** 2) + 0.25 * depth * np.exp(-d2 / (2.5 * r) ** 2)
    ys, xs, yy, xx = _window(cx - rx - 6, cx + rx + 6, cy - ry - 6, cy + ry + 6)
    mask[ys, xs] |= ((xx - cx) / (rx + 5)) ** 2 + ((yy - cy) / (ry + 5)) ** 2 <= 1


def _fine_scratches(img, mask, cx, rng):
    """Class 2: a few fine, short, bright vertical scratches."""
    for _ in range(int(rng.integers(1, 5))):
        sx = cx + rng.uniform(-15, 15)
        length = rng.uniform(25, 110)
        y0 = rng.uniform(-10, H - length + 10)
        slope, sigma, amp = rng.uniform(-0.08, 0.08), rng.uniform(0.7, 1.4), rng.uniform(35, 60)
        ys, xs, yy, xx = _window(sx - 15, sx + 15, y0 - 4, y0 + length + 4)
        d = xx - (sx + slope * (yy - y0))
        t = np.clip((yy - y0) / length, 0, 1)
        img[ys, xs] += amp * np.exp(-(d / sigma) ** 2) * np.sqrt(np.clip(np.sin(np.pi * t), 0, 1))
        mask[ys, xs] |= (np.abs(d) <= 4) & (yy >= y0 - 3) & (yy <= y0 + length + 3)


def _streaks(img, mask, cx, rng):
    """Class 3: a group of streaks along the rolling direction, from one scratch to a wide area.

    Each streak is annotated as its own band (the streak's width plus a margin), not as the hull
    of the group: an annotator outlining a wide scratched area follows the scratches, and the
    hull would make a median class-3 patch a third defect, which saturates the distance metric.
    """
    kind = rng.choice(3, p=(0.4, 0.4, 0.2))
    half = (rng.uniform(2, 15), rng.uniform(25, 110), rng.uniform(100, 300))[kind]
    n = (1, int(rng.integers(2, 5)), int(rng.integers(4, 9)))[kind]
    rows = np.arange(H, dtype=np.float32)
    for _ in range(n):
        sx = cx + rng.uniform(-half, half)
        length = H + 20 if rng.random() < 0.5 else rng.uniform(60, H)
        y0 = -10 if length > H else rng.uniform(-10, H - length + 10)
        slope, sigma = rng.uniform(-0.2, 0.2), rng.uniform(1, 8)
        amp = rng.uniform(-40, -15) if rng.random() < 0.7 else rng.uniform(15, 30)
        wiggle = rng.uniform(0, 3) * np.sin(rows / rng.uniform(20, 60) + rng.uniform(0, 2 * np.pi))
        centre = sx + slope * (rows - y0) + wiggle
        on = (rows >= y0) & (rows <= y0 + length)
        t = np.clip((rows - y0) / length, 0, 1)
        taper = np.minimum(1, 6 * np.minimum(t, 1 - t)) if length <= H else np.ones_like(t)
        # the streak's own columns only: its profile is negligible beyond 3 sigma
        ys, xs, yy, xx = _window(centre.min() - 3 * sigma - 1, centre.max() + 3 * sigma + 1, 0, H - 1)
        d = xx - centre[:, None]
        img[ys, xs] += amp * np.exp(-(d / sigma) ** 2) * (taper * on)[:, None]
        mask[ys, xs] |= (np.abs(d) <= 1.5 * sigma + 3) & on[:, None]


def _blotch(img, mask, cx, rng):
    """Class 4: a large, irregular dark blotch with a flaky texture (rolled-in scale)."""
    w, h = rng.uniform(80, 450), rng.uniform(80, H)
    cy = rng.uniform(h / 3, H - h / 3)
    # bumps reach about 0.3 + 1.2 * 0.2 of the size from the centre: the window holds them whole
    ys, xs, yy, xx = _window(cx - 0.6 * w, cx + 0.6 * w, cy - 0.75 * h, cy + 0.75 * h)
    cols, rows = xx[0], yy[:, 0]
    # a union of 3-8 overlapping elongated bumps: irregular, and cheap as each bump is separable
    field = np.full(yy.shape, -0.35, dtype=np.float32)
    for _ in range(int(rng.integers(3, 9))):
        bx, by = cx + rng.uniform(-0.3, 0.3) * w, cy + rng.uniform(-0.3, 0.3) * h
        sx, sy = rng.uniform(0.1, 0.2) * w, rng.uniform(0.2, 0.35) * h
        field += rng.uniform(0.4, 1.0) * np.outer(np.exp(-((rows - by) / sy) ** 2), np.exp(-((cols - bx) / sx) ** 2))
    flakes = rng.standard_normal(yy.shape).astype(np.float32)
    weight = np.clip(field / 0.2, 0, 1)
    img[ys, xs] += -rng.uniform(30, 55) * weight * (0.75 + 0.25 * np.tanh(flakes))
    mask[ys, xs] |= field > -0.08


_RENDER = {1: _pits, 2: _fine_scratches, 3: _streaks, 4: _blotch}
# regions per class: 1 + Poisson(mean), and the half-width the centre keeps from the steel's edge
_EXTRA_REGIONS = {1: 0.35, 2: 0.0, 3: 1.0, 4: 1.1}
_EDGE_MARGIN = {1: 40, 2: 10, 3: 20, 4: 60}


def _strip_edge(rng: np.random.Generator) -> tuple[str, np.ndarray]:
    """Where the strip's edge is in view: the side, and per row the width of the black area."""
    side = str(rng.choice(("left", "right")))
    rows = np.arange(H, dtype=np.float32)
    edge = (rng.uniform(80, 1150) + rng.uniform(-0.12, 0.12) * (rows - H / 2)
            + rng.uniform(0, 2) * np.sin(rows / rng.uniform(15, 40)))
    return side, edge


def _blacken(img: np.ndarray, side: str, edge: np.ndarray, noise: np.ndarray, rng: np.random.Generator) -> None:
    """Black the area beyond the strip's edge, with a darker bevel on the steel side."""
    reach = int(min(W, np.ceil(edge.max()) + 12))
    depth = np.arange(reach, dtype=np.float32)[None, :] - edge[:, None]   # > 0 on the steel
    region = img[:, :reach] if side == "left" else img[:, ::-1][:, :reach]
    bevel = np.clip(0.6 + 0.4 * depth / 8, 0.6, 1)
    black = rng.uniform(2, 6) + 1.5 * noise[:, :reach]
    blend = np.clip(depth + 0.5, 0, 1)             # one-pixel soft edge
    region[:] = blend * region * bevel + (1 - blend) * black


def render_image(classes: tuple[int, ...], rng: np.random.Generator, banks: _Banks | None = None,
                 background: bool | None = None) -> tuple[np.ndarray, np.ndarray]:
    """One synthetic steel image and its defect masks.

    ``classes``: the defect classes to draw (``()`` for a clean image), each as 1 + Poisson
    regions; ``background``: whether the strip's edge is in view (``None``: drawn with
    ``BACKGROUND_PROB``). Returns grey uint8 (256, 1600) and masks bool (4, 256, 1600), entry k
    for class k + 1. Used in chapter 04_steel_defects.
    """
    banks = banks if banks is not None else _Banks(rng)
    img = _surface(rng, banks)
    if background is None:
        background = bool(rng.random() < BACKGROUND_PROB)
    steel = (0.0, W - 1.0)
    if background:
        side, edge = _strip_edge(rng)
        inner = float(edge.max()) + 5
        steel = (inner, W - 1.0) if side == "left" else (0.0, W - 1.0 - inner)
    masks = np.zeros((4, H, W), dtype=bool)
    for c in classes:
        lo, hi = steel[0] + _EDGE_MARGIN[c], steel[1] - _EDGE_MARGIN[c]
        for _ in range(1 + int(rng.poisson(_EXTRA_REGIONS[c]))):
            _RENDER[c](img, masks[c - 1], rng.uniform(lo, max(lo, hi)), rng)
    if background:
        # drawn after the defects, which end at the strip's edge; annotators outline the steel only
        _blacken(img, side, edge, banks.take(banks.grain, rng), rng)
        cols = np.arange(W)
        masks &= ((cols >= steel[0] - 5) & (cols <= steel[1] + 5))[None, None, :]
    grey = np.clip(img + 0.5, 0, 255).astype(np.uint8)
    return grey, masks


def draw_classes(rng: np.random.Generator, defective_share: float = DEFECTIVE_SHARE) -> tuple[int, ...]:
    """The defect classes of one image: ``()`` with 1 - ``defective_share``, else one of ``CLASS_SETS``."""
    if rng.random() >= defective_share:
        return ()
    return CLASS_SETS[int(rng.choice(len(CLASS_SETS), p=np.asarray(CLASS_SET_PROBS) / sum(CLASS_SET_PROBS)))]


def write_standin(root: str | Path, n_images: int = 300, seed: int = 0, *,
                  defective_share: float = DEFECTIVE_SHARE, overwrite: bool = False) -> Path:
    """Write ``n_images`` synthetic Severstal images and their ``train.csv`` (current format) to ``root``.

    Deterministic for ``seed`` (same bytes), atomic (an interrupted call leaves nothing at
    ``root``), about 15-25 ms per image on one CPU core. Read it back with :func:`xaibook.steel.load_patches`.
    Used in chapter 04_steel_defects.
    """
    if int(n_images) != n_images or n_images < 1:
        raise ValueError(f"n_images={n_images!r}: give a positive number of images")
    if not 0 <= defective_share <= 1:
        raise ValueError(f"defective_share={defective_share!r} must lie in [0, 1]")
    root = Path(root)
    rng = np.random.default_rng(seed)
    banks = _Banks(rng)
    ids: set[str] = set()
    while len(ids) < n_images:
        ids.add(f"{int(rng.integers(0, 16 ** 9)):09x}.jpg")   # Kaggle's ids: 9 hex digits
    rows = []
    with atomic_directory(root, overwrite=overwrite) as tmp:
        (tmp / TRAIN_IMAGES).mkdir()
        for image_id in sorted(ids):
            grey, masks = render_image(draw_classes(rng, defective_share), rng, banks)
            Image.fromarray(grey).convert("RGB").save(tmp / TRAIN_IMAGES / image_id, "JPEG", quality=JPEG_QUALITY)
            for c in range(4):
                if masks[c].any():
                    rows.append((image_id, c + 1, rle_encode(masks[c])))
        pd.DataFrame(rows, columns=list(CURRENT_HEADER)).to_csv(tmp / TRAIN_CSV, index=False)
    return root


def ensure_standin(root: str | Path, n_images: int = 300, seed: int = 0) -> Path:
    """Write the stand-in into ``root`` unless an identical one (same size, seed, version) is there."""
    stamp = {"version": STANDIN_VERSION, "n_images": int(n_images), "seed": int(seed)}
    return rebuild_unless_stamped(root, stamp, lambda r: write_standin(r, n_images, seed, overwrite=True))
