"""A simulator of the bioreactor foam experiments of Austerjost et al. 2021 (chapter 01_foam).

The real images are Sartorius' and not public. This stand-in simulates the paper's setting
closely enough to test each of its claims:

* the full-factorial design of its Table 1: 8 runs of one Ambr250-like vessel, volume 200/240 mL,
  orange-red dye yes/no, clean-bench light off/on, executed in the stated run order;
* a foam layer whose height follows BSA additions, aeration (5-50 mL/min) and stirrer speed
  (500-1500 rpm), rising and collapsing with first-order dynamics, uneven along the surface;
* an external LED switched at random, whose glare can look like foam, and foam residue left on
  the wall after a high-foam phase: realistic reasons for a classifier to look at the wrong place;
* two cameras: a smartphone (sharp, neutral colour, one frame every 3 s) and an action camera
  (lower resolution, noisier, warm colour cast, one frame every 10 s), each mount drifting a
  little from run to run;
* a simulated expert who labels foam height into no/low/medium/high with a relative error of
  about 12%, so that labels flip near the thresholds as a human's would.

Every frame's ground truth (foam height, liquid level, the interface-and-foam box) is kept in the
manifest, which is what lets the chapter measure where GradCAM++ looks. The manifest format is
the one a lab uses for its own images (see :mod:`xaibook.foam.dataset`).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image
from scipy.ndimage import gaussian_filter, zoom

from .._utils.io import atomic_directory, rebuild_unless_stamped
from .dataset import CLASSES, MANIFEST, REQUIRED_COLUMNS

# Table 1 of Austerjost et al. 2021: experiment -> (run order, volume mL, dye, bench light on)
TABLE1 = pd.DataFrame(
    {"experiment": range(1, 9), "run_order": [2, 6, 3, 7, 4, 1, 5, 8],
     "volume_ml": [200, 240] * 4, "dye": [False, False, True, True] * 2,
     "bench_light": [False] * 4 + [True] * 4}
)

# Foam-height thresholds (mm) between no/low, low/medium and medium/high foam. The paper gives
# none: its expert judged by eye. These are ours, chosen for a 250 mL vessel; together with the
# foam drive below they give class shares close to the paper's Table 2 (19/43/30/8%).
THRESHOLDS_MM = (1.5, 6.0, 12.0)

VESSEL_MM = 100.0          # height of the region of interest (vessel side view), mm
LIQUID_MM_PER_ML = 0.29    # liquid level per mL in the vessel (200 mL -> 58 mm)
WALL = (0.12, 0.88)        # vessel walls as a fraction of the crop width


@dataclass(frozen=True)
class Camera:
    name: str
    interval_s: float      # seconds between annotated frames
    render_scale: float    # optical resolution relative to the stored image
    noise: float           # sensor noise (std, intensity 0..1)
    tint: tuple[float, float, float]
    drift_px: float        # mount drift per run (fraction of the image size)


SMARTPHONE = Camera("smartphone", 3.0, 1.0, 0.012, (1.0, 1.0, 1.0), 0.010)
ACTION_CAMERA = Camera("action_camera", 10.0, 0.55, 0.035, (1.08, 1.0, 0.88), 0.018)


def foam_class(height_mm: np.ndarray) -> np.ndarray:
    """0 no, 1 low, 2 medium, 3 high foam from the foam height in mm."""
    return np.digitize(np.asarray(height_mm, float), THRESHOLDS_MM)


def simulate_run(duration_s: float, dt: float, rng: np.random.Generator) -> pd.DataFrame:
    """Process state every ``dt`` seconds of one run: foam height, aeration, stirrer, LED, residue.

    The run starts without BSA (no foam), then receives 2-5 BSA additions of 0.1-1 mL at random
    times; aeration and stirrer speed are re-set every 2-6 minutes. Foam relaxes towards an
    equilibrium height with a rise time of 40 s and a collapse time of 80 s. Splashes from the
    impeller occur in 3-15% of the seconds, more often at high stirrer speed.
    """
    t = np.arange(0.0, duration_s, dt)
    n = len(t)

    def piecewise(lo: float, hi: float, mean_len_s: float) -> np.ndarray:
        out = np.empty(n)
        i = 0
        while i < n:
            length = max(1, int(rng.uniform(0.5, 1.5) * mean_len_s / dt))
            out[i:i + length] = rng.uniform(lo, hi)
            i += length
        return out

    aeration = piecewise(5, 50, 240)
    stirrer = piecewise(500, 1500, 240)
    led = piecewise(0, 1, 150) > 0.55
    bsa = np.zeros(n)
    first = rng.uniform(0.12, 0.3) * duration_s
    for when in np.sort(np.r_[first, rng.uniform(first, duration_s, rng.integers(1, 5))]):
        bsa[t >= when] += rng.uniform(0.1, 1.0)          # mL of 0.5 g/mL BSA solution
    equilibrium = 12.0 * np.sqrt(bsa) * (aeration / 50) * (stirrer / 1000) ** 0.4
    height = np.zeros(n)
    residue = np.zeros(n)
    for i in range(1, n):
        tau = 40.0 if equilibrium[i] > height[i - 1] else 80.0
        height[i] = height[i - 1] + (equilibrium[i] - height[i - 1]) * (1 - np.exp(-dt / tau))
        height[i] = max(0.0, height[i] + rng.normal(0, 0.15))
        # foam that climbed high leaves a film on the wall that dries off over minutes
        residue[i] = max(residue[i - 1] * np.exp(-dt / 400.0), height[i] if height[i] > 10 else 0.0)
    # splashes thrown up by the impeller: brief, independent from frame to frame, more at high speed
    splash = rng.random(n) < 0.03 + 0.12 * np.clip((stirrer - 800) / 700, 0, 1)
    return pd.DataFrame({"time_s": t, "foam_mm": height, "aeration_ml_min": aeration,
                         "stirrer_rpm": stirrer, "led": led, "bsa_ml": bsa, "residue_mm": residue,
                         "splash": splash})


def expert_label(height_mm: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The simulated expert: judges height with ~12% relative error plus 0.3 mm, then thresholds."""
    seen = np.asarray(height_mm) * np.exp(rng.normal(0, 0.12, np.shape(height_mm))) + rng.normal(0, 0.3, np.shape(height_mm))
    return foam_class(seen)


def render_frame(state: dict, camera: Camera, size: int, rng: np.random.Generator,
                 offset: tuple[float, float] = (0.0, 0.0)) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """Render one side-view crop (size x size RGB uint8) and its interface-and-foam box.

    ``state`` holds volume_ml, dye, bench_light, led, foam_mm, stirrer_rpm, aeration_ml_min,
    residue_mm, splash, led_glare_mm and a ``phase``. The box (top, bottom, left, right; pixels, bottom and
    right exclusive) spans the liquid-gas interface and the foam above it, inside the walls.
    """
    s = max(16, int(round(size * camera.render_scale)))
    px = s / VESSEL_MM                                      # pixels per mm
    yy, xx = np.mgrid[0:s, 0:s].astype(float)
    y_mm = VESSEL_MM - (yy + 0.5) / px                      # height above the vessel bottom
    x_rel = (xx + 0.5) / s + offset[0]
    left, right = WALL
    inside = (x_rel > left) & (x_rel < right)
    xc = (x_rel - (left + right) / 2) / ((right - left) / 2)  # -1..1 across the vessel

    light = 0.55 + 0.35 * state["bench_light"]
    img = np.empty((s, s, 3))
    # background: the dark rack behind the vessel, with a soft vertical gradient
    img[:] = (0.16, 0.17, 0.2)
    img *= (0.8 + 0.2 * (yy / s))[..., None] * light / 0.7

    # liquid with a stirrer vortex and aeration waves
    level = state["volume_ml"] * LIQUID_MM_PER_ML + offset[1] * VESSEL_MM
    rpm, air = state["stirrer_rpm"], state["aeration_ml_min"]
    surface = (level - 2.5 * (rpm / 1500) ** 2 * (1 - xc ** 2)
               + 0.25 * (air / 50) * np.sin(9 * xc + state["phase"]))
    liquid = inside & (y_mm < surface)
    colour = np.array((0.92, 0.38, 0.14)) if state["dye"] else np.array((0.86, 0.82, 0.62))
    depth_shade = 0.75 + 0.25 * np.clip((surface - y_mm) / 40, 0, 1)
    img[liquid] = (colour * light * 1.1)[None] * depth_shade[liquid][:, None]
    # rising gas bubbles from the sparger
    n_bubbles = int(air / 50 * 0.02 * s * s)
    if n_bubbles:
        by, bx = rng.integers(0, s, n_bubbles), rng.integers(0, s, n_bubbles)
        keep = liquid[by, bx]
        img[by[keep], bx[keep]] = np.minimum(1, img[by[keep], bx[keep]] + 0.25)

    # foam: a whitish bubbly layer on the surface, uneven along it
    # foam piles up over the vortex, so its top follows the surface only half-way
    foam_top = (level + 0.5 * (surface - level)
                + state["foam_mm"] * (1 + 0.3 * np.sin(3.1 * xc + 2 * state["phase"]))) * inside
    foam = inside & (y_mm >= surface) & (y_mm < foam_top) & (state["foam_mm"] > 0.05)
    if foam.any():
        texture = gaussian_filter(rng.normal(0, 1, (s, s)), max(0.6, 0.6 * px))
        texture = 0.85 + 0.12 * texture / (texture.std() + 1e-9)
        foam_colour = np.array((0.97, 0.9, 0.82)) if state["dye"] else np.array((0.95, 0.95, 0.92))
        img[foam] = (foam_colour * light * 1.05)[None] * texture[foam][:, None]

    # foam residue on the wall above the liquid after a high-foam phase (a confounder)
    if state["residue_mm"] > 0.5:
        band = inside & (y_mm >= surface + state["foam_mm"] + 2) & (y_mm < level + state["residue_mm"] * 1.3)
        streak = 0.5 + 0.5 * np.sin(23 * xc + state["phase"]) ** 2
        strength = np.clip(state["residue_mm"] / 25, 0, 0.45)
        img[band] = img[band] * (1 - strength * streak[band, None]) + strength * streak[band, None] * 0.9

    # a splash: droplets of liquid thrown onto the wall a few mm above the surface (a confounder
    # that comes and goes from one frame to the next)
    if state["splash"]:
        n_drops = int(rng.integers(6, 16))
        dy = level + state["foam_mm"] + rng.uniform(2, 16, n_drops)
        dx = rng.uniform(left + 0.05, right - 0.05, n_drops)
        r_mm = rng.uniform(0.8, 2.2, n_drops)
        for cy, cx, r in zip(dy, dx, r_mm):
            drop = ((y_mm - cy) ** 2 + ((x_rel - cx) * VESSEL_MM) ** 2) < r ** 2
            img[drop] = 0.6 * img[drop] + 0.4 * (0.6 + 0.35 * colour * light)

    # the stirrer shaft from the lid, and the vessel walls with their reflections
    shaft = (np.abs(xc) < 0.05) & (y_mm > 12)
    img[shaft] = img[shaft] * 0.45 + 0.05
    walls = np.minimum(np.abs(x_rel - left), np.abs(x_rel - right)) < 0.012
    img[walls] = 0.55 * light + 0.1
    if state["bench_light"]:
        glint = np.exp(-((x_rel - (left + 0.06)) / 0.015) ** 2)[..., None]
        img += 0.25 * glint * inside[..., None]

    # the external LED: a side gradient and a glare blob on the vessel wall
    if state["led"]:
        img += (0.18 * np.clip(1 - x_rel, 0, 1))[..., None]
        gy = state["led_glare_mm"]
        glare = np.exp(-(((y_mm - gy) / 5) ** 2 + ((x_rel - 0.3) / 0.06) ** 2))
        img += 0.55 * glare[..., None]

    # camera: colour response, optics, noise
    img = img * np.asarray(camera.tint)[None, None]
    if not state["bench_light"]:
        img = img + rng.normal(0, camera.noise * 1.8, img.shape)   # higher gain in the dark
    img = img + rng.normal(0, camera.noise, img.shape)
    img = np.clip(img, 0, 1)
    if s != size:
        img = np.clip(zoom(img, (size / s, size / s, 1), order=1), 0, 1)
    img = gaussian_filter(img, (0.5, 0.5, 0))

    # the interface-and-foam box in stored pixels
    top_mm = level + max(state["foam_mm"], 0.0) * 1.3 + 2.0
    bottom_mm = level - 2.5 * (rpm / 1500) ** 2 - 3.0
    to_px = size / VESSEL_MM
    top = int(np.clip(np.floor((VESSEL_MM - top_mm) * to_px), 0, size - 1))
    bottom = int(np.clip(np.ceil((VESSEL_MM - bottom_mm) * to_px), top + 1, size))
    lo = int(np.clip(np.floor((left - offset[0]) * size), 0, size - 1))
    hi = int(np.clip(np.ceil((right - offset[0]) * size), lo + 1, size))
    return (img * 255 + 0.5).astype(np.uint8), (top, bottom, lo, hi)


STANDIN_VERSION = 3   # bump when the renderer changes, so cached folders are re-rendered


@dataclass(frozen=True)
class StandinSpec:
    """How much to simulate: image size and frame intervals (the fast profile thins frames)."""

    image_size: int = 250
    smartphone_interval_s: float = 3.0
    action_camera_interval_s: float = 10.0
    action_camera_runs: tuple[int, ...] = (3, 5, 8)   # experiments the action camera watched
    dense_runs: tuple[int, ...] = ()                   # runs filmed at the paper's 3 s smartphone rate
    duration_min: tuple[float, float] = (20.0, 25.0)


def write_standin(root: str | Path, spec: StandinSpec, seed: int, *, overwrite: bool = False) -> Path:
    """Simulate all 8 runs of Table 1, render both cameras and write images + ``manifest.csv``.

    Written atomically: an interrupted call leaves no partial folder at ``root``.
    """
    root = Path(root)
    rng = np.random.default_rng(seed)
    rows = []
    with atomic_directory(root, overwrite=overwrite) as tmp:
        for exp in TABLE1.sort_values("run_order").itertuples(index=False):
            duration = rng.uniform(*spec.duration_min) * 60
            process = simulate_run(duration, 1.0, rng)
            phase = rng.uniform(0, 2 * np.pi)
            glare_mm = rng.uniform(30, 95)
            phone_interval = SMARTPHONE.interval_s if exp.experiment in spec.dense_runs else spec.smartphone_interval_s
            cams = [(SMARTPHONE, phone_interval)]
            if exp.experiment in spec.action_camera_runs:
                cams.append((ACTION_CAMERA, spec.action_camera_interval_s))
            for cam, interval in cams:
                drift = cam.drift_px * (exp.run_order - 4.5) / 3.5
                offset = (drift + rng.normal(0, cam.drift_px / 3), rng.normal(0, 0.01))
                folder = tmp / "images" / cam.name / f"run{exp.experiment}"
                folder.mkdir(parents=True)
                frames = process.iloc[np.arange(0, len(process), int(round(interval)))]
                labels = expert_label(frames["foam_mm"].to_numpy(), rng)
                for k, (fr, label) in enumerate(zip(frames.itertuples(index=False), labels)):
                    state = dict(volume_ml=exp.volume_ml, dye=exp.dye, bench_light=exp.bench_light,
                                 led=bool(fr.led), foam_mm=fr.foam_mm, stirrer_rpm=fr.stirrer_rpm,
                                 aeration_ml_min=fr.aeration_ml_min, residue_mm=fr.residue_mm,
                                 phase=phase + 0.7 * k, led_glare_mm=glare_mm, splash=bool(fr.splash))
                    img, (top, bottom, lo, hi) = render_frame(state, cam, spec.image_size, rng, offset)
                    rel = Path("images") / cam.name / f"run{exp.experiment}" / f"{k:05d}.png"
                    Image.fromarray(img).save(tmp / rel)
                    rows.append({"image": rel.as_posix(), "run": int(exp.experiment), "camera": cam.name,
                                 "frame": k, "time_s": float(fr.time_s), "label": CLASSES[int(label)],
                                 "volume_ml": int(exp.volume_ml), "dye": bool(exp.dye),
                                 "bench_light": bool(exp.bench_light), "led": bool(fr.led),
                                 "splash": bool(fr.splash), "residue_mm": round(float(fr.residue_mm), 3),
                                 "foam_mm": round(float(fr.foam_mm), 3),
                                 "true_class": CLASSES[int(foam_class(fr.foam_mm))],
                                 "box_top": top, "box_bottom": bottom, "box_left": lo, "box_right": hi})
        manifest = pd.DataFrame(rows)
        assert list(manifest.columns[:len(REQUIRED_COLUMNS)]) == list(REQUIRED_COLUMNS)
        manifest.to_csv(tmp / MANIFEST, index=False)
    return root


def ensure_standin(root: str | Path, spec: StandinSpec, seed: int) -> Path:
    """Render the stand-in into ``root`` unless an identical one (same spec, seed, version) is there."""
    stamp = {"version": STANDIN_VERSION, "seed": seed, "spec": asdict(spec)}
    return rebuild_unless_stamped(root, stamp, lambda r: write_standin(r, spec, seed, overwrite=True))
