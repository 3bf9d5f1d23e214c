"""A simulated GrowliFlower field, written in the mirror's layout (chapter 02_cauliflower).

The stand-in writes ``samples.json`` and ``data/`` exactly as :mod:`xaibook.cauliflower.dataset`
reads the Hugging Face mirror, so :func:`~xaibook.cauliflower.dataset.load_growliflower` runs on it
unchanged. It simulates the reference plants of field 2 (2021) over the paper's four acquisition
dates plus one later flight (2021-09-07), and a few field 1 plants (2020), so that the loader's
field, date and harvested-plant selection all have something to leave out.

Scale and geometry
------------------
A patch covers :data:`PATCH_CM` = 80 cm of ground (0.625 cm per pixel at the default 128 px; the
mirror's field 2 patches are 256 px). The plant's stem is at the patch centre; in-row neighbours
stand ~50 cm away, neighbours of the next rows ~65 cm away, so their leaves reach over the borders,
more as the plants grow.

Growth, harvest and the label
-----------------------------
Each plant's curd (head) diameter follows a logistic curve in days after planting (planted
2021-06-30), :math:`D(t) = D_{max} / (1 + e^{-r (t - t_0)})` with :math:`D_{max}` 19-24 cm and
:math:`r` 0.22-0.34 per day; :math:`t_0` is set by the day :math:`R` on which the head reaches the
plant's harvest diameter (16 cm, s.d. 1.2 cm: the farmer's eye), :math:`R \\sim N(` 2021-08-25,
4.5 d :math:`)`. The farmer harvests in passes every 1-4 days (:attr:`StandinSpec.harvest_passes`);
a plant is cut at the first pass on or after :math:`R`. Its ``harvest_date`` is written (the mirror is not known to
have that field), and ``in_situ_harvested`` is ``yes`` on every flight after it, where the patch
shows the cut stump. The loader's rule then labels an image ready when the plant is cut within
three days. The timing gives about 931 images of not yet harvested field 2 plants on the four dates
(the paper: 541 + 196 + 194), about 60% of them ready. (The paper's augmented training set, 2432
not ready and 3792 ready with not-ready images augmented 1.5 times as often, implies about 379 of
541 ready, 70%; a harvest-based label cannot reach that without almost no plants left on the later
dates, since each date's ready share is the share of its plants cut within three days.) Because
the field empties as it is harvested, the later dates hold fewer images and a larger ready share
(about 470 / 305 / 130 / 20 images, 55 / 57 / 85 / 90% ready): the date is a real prior here, as
it is in the field.

The canopy (8-14 leaves radiating from the stem, blue-green, veined, tips yellowing late) grows with
the plant's development, so canopy size is a second, noisier cue. The head sits up to 20 cm off the
stem and shows through a gap in the inner leaves that widens as it grows (young heads are covered).

Why a classifier errs here (not uniform noise)
----------------------------------------------
Each mechanism is a per-sample field, with its rate in :class:`StandinSpec`; a per-plant mechanism
hits exactly ``round(p * n)`` plants (so about that share of images), a per-image one each image
independently with probability ``p``. The defaults (8 / 6 / 6 / 5%) touch about a fifth of the
images; tune them if a ResNet-18 is far from the paper's ~76% (validation) / ~72% (test) accuracy:

* ``sim_hidden_head`` (``p_hidden_head``, per plant): the inner leaves close over the curd (a
  self-blanching habit): a ready head is invisible and only the canopy tells its stage.
* ``sim_neighbour_dominates`` (``p_neighbour_dominates``, per plant): a vigorous neighbour stands
  close and its leaves, above the plant's own, cover a large share of the patch (often the head).
* ``sim_shadow`` (``p_shadow``, per image): a cloud or a tall neighbour's shadow darkens half the
  patch, the head included, so the curd is grey rather than white.
* ``sim_leaf_glare`` (``p_leaf_glare``, per image): specular glare on the waxy leaves near the
  centre makes white blobs that look like curd.

Further ground truth per sample: ``sim_stem_x/y`` and ``sim_head_x/y`` (pixels of the stored image,
x to the right, y down), ``sim_head_radius_px``, ``sim_head_diameter_cm`` (the true diameter),
``sim_head_visible`` (fraction of the head disc not covered), ``sim_canopy_radius_cm``,
``sim_neighbour_cover`` (share of the patch under neighbour leaves), ``sim_cm_per_px``.
"""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image
from scipy.ndimage import gaussian_filter
from scipy.special import ndtri

from .._utils.io import atomic_directory, rebuild_unless_stamped
from .dataset import (DATE, DAY_AFTER_PLANTING, FIELD, FILEPATH, HARVEST_DATE, HARVESTED, HEAD_DIAMETER, PAPER_DATES,
                      PLANT_ID, SAMPLES_JSON, TASK, TASK_VALUE, parse_dates)

PATCH_CM = 80.0
IN_ROW_CM = 50.0
BETWEEN_ROWS_CM = 65.0
MECHANISMS = ("sim_hidden_head", "sim_neighbour_dominates", "sim_shadow", "sim_leaf_glare")
STANDIN_VERSION = 1   # bump when the simulator changes, so cached folders are re-rendered


@dataclass(frozen=True)
class StandinSpec:
    """What to simulate; the defaults give about 931 field 2 images on the paper's dates."""

    n_plants: int = 520                     # field 2 reference plants
    n_field1_plants: int = 8
    image_size: int = 128                   # px written to disk (the mirror: 256)
    image_format: str = "jpg"               # "jpg" as the mirror, or "png"
    jpeg_quality: int = 92
    dates: tuple[str, ...] = ("2021-08-23", "2021-08-25", "2021-08-30", "2021-09-03", "2021-09-07")
    field1_dates: tuple[str, ...] = ("2020-08-20", "2020-08-27")
    planting_date: str = "2021-06-30"
    harvest_passes: tuple[str, ...] = ("2021-08-12", "2021-08-16", "2021-08-19", "2021-08-24", "2021-08-26",
                                       "2021-08-28", "2021-08-31", "2021-09-02", "2021-09-05", "2021-09-06",
                                       "2021-09-09", "2021-09-13", "2021-09-16")
    ready_day_mean: str = "2021-08-25"      # mean day a head reaches its harvest diameter
    ready_day_sd: float = 4.5               # days
    harvest_diameter_cm: float = 16.0
    harvest_diameter_sd_cm: float = 1.2
    p_hidden_head: float = 0.08
    p_neighbour_dominates: float = 0.06
    p_shadow: float = 0.06
    p_leaf_glare: float = 0.05


# ----------------------------------------------------------------------------- simulation
def _exactly(n: int, p: float, rng: np.random.Generator) -> np.ndarray:
    """A boolean mask with exactly round(p * n) True entries at random places."""
    mask = np.zeros(n, bool)
    mask[rng.permutation(n)[:round(p * n)]] = True
    return mask


def simulate_plants(n: int, spec: StandinSpec, rng: np.random.Generator) -> pd.DataFrame:
    """Per-plant growth and harvest parameters (days relative to the planting date).

    Columns: ``ready_day`` (R: the head reaches ``harvest_cm``), ``harvest_cm``, ``d_max``, ``rate``,
    ``t0`` (logistic midpoint), ``harvest_day`` (first pass >= R; inf if after the last pass),
    ``openness`` (how readily the inner leaves part), ``offset_cm`` / ``offset_angle`` (head off the
    stem), ``vigour`` (canopy size factor), ``hidden_head`` and ``neighbour_dominates`` (mechanisms).
    """
    plant0 = pd.Timestamp(spec.planting_date)
    mean = (pd.Timestamp(spec.ready_day_mean) - plant0).days
    # stratified draws (one per n-quantile, shuffled): the field's timing, hence its image count and
    # class balance, vary little from seed to seed
    ready_day = mean + spec.ready_day_sd * ndtri((rng.permutation(n) + rng.uniform(0.05, 0.95, n)) / n)
    harvest_cm = rng.normal(spec.harvest_diameter_cm, spec.harvest_diameter_sd_cm, n)
    d_max = np.maximum(rng.uniform(19.0, 24.0, n), harvest_cm + 2.0)
    rate = rng.uniform(0.22, 0.34, n)
    t0 = ready_day + np.log(d_max / harvest_cm - 1.0) / rate
    passes = np.array([(pd.Timestamp(p) - plant0).days for p in spec.harvest_passes], float)
    idx = np.searchsorted(passes, ready_day, side="left")
    harvest_day = np.where(idx < len(passes), passes[np.minimum(idx, len(passes) - 1)], np.inf)
    return pd.DataFrame({
        "ready_day": ready_day, "harvest_cm": harvest_cm, "d_max": d_max, "rate": rate, "t0": t0,
        "harvest_day": harvest_day, "openness": rng.uniform(0.55, 1.15, n),
        "offset_cm": 20.0 * rng.uniform(0.05, 1.0, n) ** 0.8, "offset_angle": rng.uniform(0, 2 * np.pi, n),
        "vigour": np.exp(rng.normal(0, 0.08, n)), "n_leaves": rng.integers(8, 15, n),
        "leaf_phase": rng.uniform(0, 2 * np.pi, n), "hue": rng.normal(0, 1, n),
        "hidden_head": _exactly(n, spec.p_hidden_head, rng),
        "neighbour_dominates": _exactly(n, spec.p_neighbour_dominates, rng),
    })


def head_diameter(plants: pd.DataFrame, day: float) -> np.ndarray:
    """The logistic curd diameter (cm) of each plant ``day`` days after planting."""
    return plants["d_max"].to_numpy() / (1 + np.exp(-plants["rate"].to_numpy() * (day - plants["t0"].to_numpy())))


def canopy_radius(ready_day: np.ndarray, vigour: np.ndarray, day: float) -> np.ndarray:
    """Canopy radius (cm): about 23-37 cm, growing towards the head's harvest size (noisy via ``vigour``)."""
    return np.clip((23.0 + 14.0 / (1 + np.exp(-(day - ready_day) / 5.0))) * vigour, 14.0, 42.0)


# ----------------------------------------------------------------------------- rendering helpers
class _Canvas:
    """An RGB float image in cm coordinates with alpha compositing restricted to bounding boxes."""

    def __init__(self, size: int):
        self.size = size
        self.cm = PATCH_CM / size
        c = ((np.arange(size) + 0.5) * self.cm - PATCH_CM / 2).astype(np.float32)
        self.xs, self.ys = c, c
        self.img = np.zeros((size, size, 3), np.float32)
        self.cover = np.zeros((size, size), np.float32)     # plant cover (any leaf or head), for the cast shadow

    def box(self, x0: float, x1: float, y0: float, y1: float) -> tuple[slice, slice] | None:
        # plain Python on scalars: np.clip per call dominated the rendering time
        lo = lambda v: min(max(math.floor((v + PATCH_CM / 2) / self.cm), 0), self.size)
        hi = lambda v: min(max(math.ceil((v + PATCH_CM / 2) / self.cm) + 1, 0), self.size)
        sx, sy = slice(lo(x0), hi(x1)), slice(lo(y0), hi(y1))
        if sx.start >= sx.stop or sy.start >= sy.stop:
            return None
        return sy, sx

    def grid(self, sl: tuple[slice, slice]) -> tuple[np.ndarray, np.ndarray]:
        return self.xs[sl[1]][None, :], self.ys[sl[0]][:, None]

    def paint(self, sl, alpha: np.ndarray, colour: np.ndarray) -> None:
        a = alpha[..., None]
        self.img[sl] = self.img[sl] * (1 - a) + colour * a
        self.cover[sl] = self.cover[sl] + alpha * (1 - self.cover[sl])


def _leaf(cv: _Canvas, base: tuple[float, float], angle: float, length: float, width: float,
          colour: np.ndarray, rng: np.random.Generator, *, age: float = 0.0, veins: bool = True,
          out: np.ndarray | None = None) -> None:
    """An obovate leaf from ``base`` along ``angle``: midrib, lateral veins, shading, wavy margin.

    ``age`` (0-1) yellows the tip; ``out`` (a full-size array) receives the leaf's alpha (max).
    """
    c, s = np.cos(angle), np.sin(angle)
    tip = (base[0] + c * length * 1.1, base[1] + s * length * 1.1)
    pad = width / 2 + 1.0
    sl = cv.box(min(base[0], tip[0]) - pad, max(base[0], tip[0]) + pad,
                min(base[1], tip[1]) - pad, max(base[1], tip[1]) + pad)
    if sl is None:
        return
    X, Y = cv.grid(sl)
    dx, dy = X - np.float32(base[0]), Y - np.float32(base[1])
    u = dx * np.float32(c) + dy * np.float32(s)
    v = dy * np.float32(c) - dx * np.float32(s)
    half_u, half_v = 0.55 * length, width / 2
    t = u * np.float32(1 / length)
    wave = 1 + 0.07 * np.sin(t * np.float32(2 * np.pi * 6) + np.float32(rng.uniform(0, 2 * np.pi)))
    q = np.sqrt(((u - np.float32(half_u)) * np.float32(1 / half_u)) ** 2 + (v / (np.float32(half_v) * wave)) ** 2)
    alpha = np.clip((1 - q) * np.float32(min(half_u, half_v) / cv.cm) + 0.5, 0, 1)
    rows, cols = np.flatnonzero(alpha.any(1)), np.flatnonzero(alpha.any(0))
    if not len(rows):
        return
    r0, r1, c0, c1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1      # crop to the leaf itself
    sl = (slice(sl[0].start + r0, sl[0].start + r1), slice(sl[1].start + c0, sl[1].start + c1))
    alpha, t, v = alpha[r0:r1, c0:c1], t[r0:r1, c0:c1], v[r0:r1, c0:c1]
    across = np.abs(v) * np.float32(1 / half_v)
    shade = 0.74 + 0.34 * np.clip(t, 0, 1) - 0.16 * across ** 2
    col = colour.astype(np.float32)[None, None, :] * shade[..., None]
    if veins:
        midrib = np.clip(1 - np.abs(v) / np.float32(0.03 * width + 0.5 * cv.cm), 0, 1) * (t < 0.9)
        lateral = (np.abs(((t * 6 - 1.5 * across) % 1.0) - 0.5) < 0.06) * (across < 0.8) * (t > 0.1)
        vein = (0.45 * midrib + 0.14 * lateral)[..., None]
        col = col * (1 - vein) + np.array((0.7, 0.78, 0.66), np.float32) * vein
    if age > 0:
        yellow = (np.clip((t - 0.75) * 4, 0, 1) * np.float32(age))[..., None]
        col = col * (1 - yellow) + np.array((0.56, 0.55, 0.32), np.float32) * yellow
    cv.paint(sl, alpha, col)
    if out is not None:
        out[sl] = np.maximum(out[sl], alpha)


def _plant_leaves(cv: _Canvas, centre: tuple[float, float], radius: float, n: int, phase: float,
                  colour: np.ndarray, age: float, rng: np.random.Generator, *, detail: bool = True,
                  out: np.ndarray | None = None) -> None:
    """A rosette of ``n`` leaves radiating from ``centre``; outer (older, longer) leaves first."""
    angles = phase + 2.39996 * np.arange(n) + rng.normal(0, 0.2, n)      # golden-angle phyllotaxis
    lengths = radius * np.linspace(0.92, 0.62, n) * rng.uniform(0.9, 1.06, n)
    old = (np.arange(n) < n // 3) & (rng.random(n) < 0.7)                 # outer leaves yellow first
    for k in range(n):
        tone = colour * rng.uniform(0.9, 1.08)
        _leaf(cv, centre, angles[k], lengths[k], lengths[k] * rng.uniform(0.55, 0.7), tone, rng,
              age=age * old[k] * rng.uniform(0.4, 1.0), veins=detail, out=out)


def _textures(size: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Large soil and curd textures; each image crops a random window (cheap per image)."""
    big = 3 * size
    cm = PATCH_CM / size
    fine = gaussian_filter(rng.normal(0, 1, (big, big)), 0.6)
    mid = gaussian_filter(rng.normal(0, 1, (big, big)), 2.5 / cm)
    coarse = gaussian_filter(rng.normal(0, 1, (big, big)), 8.0 / cm)
    clods = gaussian_filter((rng.random((big, big)) < 0.012).astype(float), 0.9) * 4
    soil = 0.09 * fine / fine.std() + 0.08 * mid / mid.std() + 0.06 * coarse / coarse.std() + 0.25 * np.clip(clods, 0, 1)
    curd = gaussian_filter(rng.normal(0, 1, (big, big)), 0.55 / cm)
    curd = curd / curd.std()
    return {"soil": soil.astype(np.float32), "curd": curd.astype(np.float32),
            "noise": rng.normal(0, 1, (big, big, 3)).astype(np.float32)}


def _crop(tex: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    i, j = rng.integers(0, tex.shape[0] - size, 2)
    return tex[i:i + size, j:j + size]


LEAF_GREEN = np.array((0.31, 0.46, 0.34))
CURD = np.array((0.95, 0.92, 0.8))


def render_patch(state: dict, size: int, textures: dict[str, np.ndarray],
                 rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """Render one top-view patch (size x size RGB uint8) and its ground truth.

    ``state`` holds the plant (``head_cm``, ``canopy_cm``, ``harvested``, ``offset_cm``,
    ``offset_angle``, ``openness``, ``n_leaves``, ``leaf_phase``, ``hue``, ``age`` (0-1, yellowing of
    outer leaves), the mechanism flags ``hidden_head``, ``neighbour_dominates``, ``shadow``,
    ``leaf_glare``), its neighbours' canopy radii ``neighbours`` (4 values in cm, 0 = harvested),
    the soil (``moisture`` 0-1, ``furrow_phase`` cm) and the light (``brightness``, ``tint`` RGB
    gains, ``sun``: the cast shadow's (dx, dy) in cm). Returns the image and the ``sim_*`` ground
    truth (head centre and radius in pixels, visible head fraction, neighbour cover, stem, scale).
    """
    cv = _Canvas(size)
    cm = cv.cm
    # soil: moisture darkens it; furrows run along the rows (y axis)
    dry, wet = np.array((0.56, 0.46, 0.36)), np.array((0.36, 0.28, 0.21))
    base = dry * (1 - state["moisture"]) + wet * state["moisture"]
    furrow = 0.06 * np.cos(2 * np.pi * (cv.xs + state["furrow_phase"]) / BETWEEN_ROWS_CM)[None, :]
    cv.img[:] = base[None, None, :] * (1 + _crop(textures["soil"], size, rng) + furrow)[..., None]

    neigh_alpha = np.zeros((size, size), np.float32)
    # rows run along y: in-row neighbours above and below, the next rows' plants left and right
    spots = [(0.0, IN_ROW_CM), (0.0, -IN_ROW_CM), (BETWEEN_ROWS_CM, 0.0), (-BETWEEN_ROWS_CM, 0.0)]
    green = LEAF_GREEN * (1 + 0.05 * state["hue"] * np.array((1.0, 0.3, -0.8)))
    for (nx, ny), rad in zip(spots, state["neighbours"]):
        if rad <= 0:
            continue
        centre = (nx + rng.normal(0, 3), ny + rng.normal(0, 3))
        _plant_leaves(cv, centre, rad, int(rng.integers(7, 12)), rng.uniform(0, 6.3), green * rng.uniform(0.9, 1.1),
                      state["age"], rng, detail=False, out=neigh_alpha)

    truth = {"sim_head_x": float("nan"), "sim_head_y": float("nan"), "sim_head_radius_px": 0.0,
             "sim_head_visible": 0.0}
    if state["harvested"]:
        # the cut plant: a stump and a few discarded, wilting outer leaves
        for _ in range(int(rng.integers(2, 5))):
            _leaf(cv, (rng.normal(0, 6), rng.normal(0, 6)), rng.uniform(0, 6.3), rng.uniform(14, 26),
                  rng.uniform(7, 12), np.array((0.5, 0.52, 0.33)) * rng.uniform(0.8, 1.1), rng, veins=False)
        sl = cv.box(-3, 3, -3, 3)
        X, Y = cv.grid(sl)
        cv.paint(sl, np.clip(2.2 - np.hypot(X, Y) / cm, 0, 1), np.array((0.78, 0.8, 0.6)))
    else:
        _plant_leaves(cv, (0.0, 0.0), state["canopy_cm"], state["n_leaves"], state["leaf_phase"], green,
                      state["age"], rng)
        r_head = state["head_cm"] / 2
        if r_head > 0.4:
            hx = state["offset_cm"] * np.cos(state["offset_angle"])
            hy = state["offset_cm"] * np.sin(state["offset_angle"])
            sl = cv.box(hx - r_head - 1, hx + r_head + 1, hy - r_head - 1, hy + r_head + 1)
            X, Y = cv.grid(sl)
            rr = np.hypot(X - hx, Y - hy) / r_head
            disc = np.clip((1 - rr) * r_head / cm + 0.5, 0, 1)
            curd = _crop(textures["curd"], size, rng)[sl]
            dome = 0.74 + 0.26 * np.sqrt(np.clip(1 - rr ** 2, 0, 1))
            cream = CURD * (1 + 0.03 * state["hue"] * np.array((0.0, 0.2, -1.0)))
            florets = 0.9 + 0.1 * curd - 0.12 * np.clip(-curd - 1.0, 0, None)       # bumps and crevices
            cv.paint(sl, disc, cream * (dome * florets)[..., None])
            head_mask = np.zeros((size, size), np.float32)
            head_mask[sl] = disc
            # inner leaves wrap the curd; a gap opens as it grows (never for a hidden head)
            wrap = np.zeros((size, size), np.float32)
            opening = min(1.0, np.clip((state["head_cm"] - 5.0) / 9.0, 0, 1) * state["openness"])
            gap_dir = rng.uniform(0, 2 * np.pi)
            gap = 0.0 if state["hidden_head"] else 1.4 * np.pi * opening
            for k in range(7):
                ang = gap_dir + gap / 2 + (2 * np.pi - gap) * (k + 0.5) / 7 + rng.normal(0, 0.1)
                reach = (1.25 if state["hidden_head"] else 0.2 + 0.95 * (1 - opening)) * rng.uniform(0.9, 1.15)
                start = (hx + 1.35 * r_head * np.cos(ang), hy + 1.35 * r_head * np.sin(ang))
                length = r_head * (0.6 + 1.6 * reach)
                _leaf(cv, start, ang + np.pi + rng.normal(0, 0.2), length, length * 0.75,
                      green * rng.uniform(0.95, 1.12), rng, out=wrap)
            if state["hidden_head"]:
                _leaf(cv, (hx - 1.2 * r_head, hy), rng.normal(0, 0.3), 2.4 * r_head, 2.0 * r_head,
                      green * 1.05, rng, out=wrap)
            visible = head_mask * (1 - wrap)
            truth.update(sim_head_x=(hx + PATCH_CM / 2) / cm - 0.5, sim_head_y=(hy + PATCH_CM / 2) / cm - 0.5,
                         sim_head_radius_px=r_head / cm, sim_head_visible=float(visible.sum() / head_mask.sum()))

    if state["neighbour_dominates"]:
        # a vigorous neighbour leaning in: its leaves lie above the plant's own
        ang = rng.uniform(0, 2 * np.pi)
        dist = rng.uniform(36, 44)
        centre = (dist * np.cos(ang), dist * np.sin(ang))
        rad = rng.uniform(38, 46)
        n = int(rng.integers(9, 13))
        angles = ang + np.pi + rng.uniform(-1.1, 1.1, n)
        for k in range(n):
            ln = rad * rng.uniform(0.8, 1.05)
            _leaf(cv, centre, angles[k], ln, ln * rng.uniform(0.5, 0.62), green * rng.uniform(0.92, 1.1), rng,
                  age=state["age"], out=neigh_alpha)
    truth["sim_neighbour_cover"] = float((neigh_alpha > 0.5).mean())

    # the plants' cast shadow on the soil, towards the date's sun direction
    sx, sy = (int(round(v / cm)) for v in state["sun"])
    shadow = np.zeros((size, size), np.float32)
    shadow[max(sy, 0):size + min(sy, 0), max(sx, 0):size + min(sx, 0)] = \
        cv.cover[max(-sy, 0):size + min(-sy, 0), max(-sx, 0):size + min(-sx, 0)]
    cv.img *= (1 - 0.4 * gaussian_filter(shadow, 1.0) * (1 - cv.cover))[..., None]

    if state["leaf_glare"]:
        # specular glare on waxy leaves near the centre, where curd would be
        X, Y = cv.grid((slice(0, size), slice(0, size)))
        glare = np.zeros((size, size))
        for _ in range(int(rng.integers(2, 5))):
            gx, gy, gr = rng.normal(0, 9), rng.normal(0, 9), rng.uniform(1.8, 3.5)
            glare += np.exp(-((X - gx) ** 2 + (Y - gy) ** 2) / (2 * gr ** 2))
        glare = np.clip(glare, 0, 1) * cv.cover
        cv.img = cv.img * (1 - 0.85 * glare[..., None]) + 0.85 * glare[..., None] * np.array((0.93, 0.95, 0.9))

    if state["shadow"]:
        # a soft-edged shadow over the half of the patch that holds the head (or the centre)
        hx = truth["sim_head_x"] if np.isfinite(truth["sim_head_x"]) else size / 2
        hy = truth["sim_head_y"] if np.isfinite(truth["sim_head_y"]) else size / 2
        th = rng.uniform(0, 2 * np.pi)
        nx, ny = np.cos(th), np.sin(th)
        yy, xx = np.mgrid[0:size, 0:size]
        edge = (xx - hx) * nx + (yy - hy) * ny - rng.uniform(6, 14) / cm
        dark = 1 / (1 + np.exp(edge / (2.0 / cm)))
        depth = rng.uniform(0.42, 0.58)
        cv.img *= (1 - dark[..., None] * (1 - depth * np.array((0.92, 0.98, 1.12))))

    # light of the date and the plant, camera optics and noise
    img = cv.img * state["brightness"] * np.asarray(state["tint"])[None, None, :]
    img = gaussian_filter(img, (0.55, 0.55, 0))
    img = img + 0.012 * _crop(textures["noise"], size, rng)
    img = np.clip(img, 0, 1)
    truth.update(sim_stem_x=size / 2 - 0.5, sim_stem_y=size / 2 - 0.5, sim_cm_per_px=cm)
    return (img * 255 + 0.5).astype(np.uint8), truth


# ----------------------------------------------------------------------------- writing
def _date_light(rng: np.random.Generator) -> dict:
    warm = rng.uniform(-1, 1)
    sun_angle, sun_len = rng.uniform(0, 2 * np.pi), rng.uniform(1.5, 5.0)
    return {"brightness": rng.uniform(0.85, 1.15), "tint": (1 + 0.06 * warm, 1.0, 1 - 0.07 * warm),
            "sun": (sun_len * np.cos(sun_angle), sun_len * np.sin(sun_angle)), "moisture": rng.uniform(0, 1)}


def _oid(key: str) -> dict:
    return {"$oid": hashlib.md5(key.encode()).hexdigest()[:24]}


def _field_samples(field: int, year: int, n: int, dates: list[pd.Timestamp], planting: pd.Timestamp,
                   spec: StandinSpec, textures: dict, rng: np.random.Generator, tmp: Path) -> list[dict]:
    plants = simulate_plants(n, spec, rng)
    lights = [_date_light(rng) for _ in dates]
    per_plot = int(np.ceil(n / 5))
    ext = "jpg" if spec.image_format.lower() in ("jpg", "jpeg") else "png"
    samples = []
    for j, (date, light) in enumerate(zip(dates, lights)):
        day = (date - planting).days
        heads = head_diameter(plants, day)
        canopies = canopy_radius(plants["ready_day"].to_numpy(), plants["vigour"].to_numpy(), day)
        cut = plants["harvest_day"].to_numpy() <= day
        folder = tmp / "data" / f"{field}_{date:%Y%m%d}"
        folder.mkdir(parents=True)
        for i, p in enumerate(plants.itertuples(index=False)):
            k = i % per_plot
            plant_id = f"{year}_Ref_Plot{i // per_plot + 1}_{'ABCDE'[k % 5]}{k // 5 + 1}"
            # neighbours of the same field on the same day: a random stage, harvested as often as the field
            other = rng.integers(0, n, 4)
            neighbours = np.where(cut[other], 0.0, canopies[other] * rng.uniform(0.9, 1.1, 4))
            state = dict(head_cm=float(heads[i]), canopy_cm=float(canopies[i]), harvested=bool(cut[i]),
                         offset_cm=p.offset_cm * (0.6 + 0.4 * min(1.0, heads[i] / p.harvest_cm)),
                         offset_angle=p.offset_angle, openness=p.openness, n_leaves=int(p.n_leaves),
                         leaf_phase=p.leaf_phase + 0.05 * j, hue=p.hue,
                         age=float(np.clip((day - p.ready_day + 6) / 10, 0, 1)),
                         hidden_head=bool(p.hidden_head), neighbour_dominates=bool(p.neighbour_dominates),
                         shadow=bool(rng.random() < spec.p_shadow), leaf_glare=bool(rng.random() < spec.p_leaf_glare),
                         neighbours=neighbours, furrow_phase=rng.uniform(0, BETWEEN_ROWS_CM),
                         brightness=light["brightness"] * rng.uniform(0.95, 1.05), tint=light["tint"],
                         sun=light["sun"], moisture=light["moisture"])
            img, truth = render_patch(state, spec.image_size, textures, rng)
            rel = f"data/{field}_{date:%Y%m%d}/{plant_id}.{ext}"
            if ext == "jpg":
                Image.fromarray(img).save(tmp / rel, quality=spec.jpeg_quality)
            else:
                Image.fromarray(img).save(tmp / rel)
            measured = heads[i] * np.exp(rng.normal(0, 0.04)) if not cut[i] and heads[i] >= 2.0 else None
            harvest = planting + pd.Timedelta(days=p.harvest_day) if np.isfinite(p.harvest_day) else None
            samples.append({
                "_id": _oid(rel), FILEPATH: rel, "tags": [], "_media_type": "image", TASK: TASK_VALUE,
                PLANT_ID: plant_id, FIELD: f"Field{field}", "plot": i // per_plot + 1,
                DATE: f"{date:%Y-%m-%d}", DAY_AFTER_PLANTING: int(day), "planting_date": f"{planting:%Y-%m-%d}",
                HEAD_DIAMETER: "" if measured is None else f"{round(measured * 2) / 2:g}",
                HARVESTED: "yes" if cut[i] else "no",
                HARVEST_DATE: None if harvest is None else f"{harvest:%Y-%m-%d}",
                "sim_head_diameter_cm": round(float(heads[i]), 3), "sim_canopy_radius_cm": round(float(canopies[i]), 3),
                "sim_hidden_head": bool(p.hidden_head), "sim_neighbour_dominates": bool(p.neighbour_dominates),
                "sim_shadow": state["shadow"], "sim_leaf_glare": state["leaf_glare"],
                **{k: (round(v, 4) if isinstance(v, float) and np.isfinite(v) else v) for k, v in truth.items()},
            })
    return samples


def write_standin(root: str | Path, spec: StandinSpec = StandinSpec(), seed: int = 0, *,
                  overwrite: bool = False) -> Path:
    """Simulate the fields, render every patch and write ``samples.json`` + ``data/`` to ``root``.

    Written atomically (an interrupted call leaves no partial folder); the same ``spec`` and
    ``seed`` give the same bytes. NaN ground truth (no head) is written as ``null``.
    """
    root = Path(root)
    rng = np.random.default_rng(seed)
    textures = _textures(spec.image_size, rng)
    planting = pd.Timestamp(spec.planting_date)
    with atomic_directory(root, overwrite=overwrite) as tmp:
        samples = _field_samples(2, planting.year, spec.n_plants, parse_dates(spec.dates), planting, spec,
                                 textures, rng, tmp)
        if spec.n_field1_plants:
            # field 1 (2020): the same simulator shifted back one year (its plants are only there to be left out)
            shift = pd.DateOffset(years=1)
            f1 = StandinSpec(**{**asdict(spec), "planting_date": f"{planting - shift:%Y-%m-%d}",
                                "ready_day_mean": f"{pd.Timestamp(spec.ready_day_mean) - shift:%Y-%m-%d}",
                                "harvest_passes": tuple(f"{pd.Timestamp(p) - shift:%Y-%m-%d}"
                                                        for p in spec.harvest_passes)})
            samples += _field_samples(1, planting.year - 1, spec.n_field1_plants, parse_dates(spec.field1_dates),
                                      planting - shift, f1, textures, rng, tmp)
        for s in samples:
            for k, v in s.items():
                if isinstance(v, float) and not np.isfinite(v):
                    s[k] = None
        (tmp / SAMPLES_JSON).write_text(json.dumps({"samples": samples}, indent=1) + "\n", encoding="utf-8")
        (tmp / "metadata.json").write_text(json.dumps(
            {"name": "GrowliFlower stand-in", "media_type": "image", "generator": "xaibook.cauliflower.standin",
             "version": STANDIN_VERSION, "seed": seed, "spec": asdict(spec), "paper_dates": list(PAPER_DATES)},
            indent=1) + "\n", encoding="utf-8")
    return root


def ensure_standin(root: str | Path, spec: StandinSpec = StandinSpec(), seed: int = 0) -> Path:
    """Render the stand-in into ``root`` unless an identical one (same spec, seed, version) is there."""
    stamp = {"version": STANDIN_VERSION, "seed": seed, "spec": asdict(spec)}
    return rebuild_unless_stamped(root, stamp, lambda r: write_standin(r, spec, seed, overwrite=True))
