r"""A B-mode lung-ultrasound simulator: the stand-in for the clinic videos of Kolarik et al. (chapter 03).

The 48 patient videos of the paper (Jaščur et al. 2021) are not public. This simulator writes
videos, ``videos.csv`` and ``roi.csv`` in the layout a clinic would fill (:mod:`.dataset`), so the
same loader runs on both. Each value below is a documented choice (``SOURCES``); the simulator's
job is to make lung sliding visible only as *relative motion below the pleura*, with realistic
confounders in both classes, so that a model can succeed or fail on the paper's claim.

A frame, from the probe down (depth z, lateral x, in mm, converted with the patient's zoom):

* soft tissue: horizontal layers of different echogenicity times speckle;
* two ribs: bright arcs with acoustic shadows to the bottom of the image;
* the pleural line about 5 mm below the rib line, bright and thin;
* A-lines: fading copies of the pleural line at multiples of the probe-to-pleura depth;
* lung speckle below the pleura, and B-lines (vertical comet tails from the pleura to the bottom
  that erase the A-lines);
* speckle everywhere: the envelope of a complex Gaussian scatterer field blurred by the point
  spread function, Rayleigh-distributed (mean/std about 1.91), log-compressed.

Motion. With sliding, the pleural line, the lung speckle and the B-lines move to and fro along the
pleura with breathing (lateral displacement :math:`s(t) = (v/\omega)\sin(\omega t + \phi)`, peak
speed v), and the lung speckle shimmers (a slow rotation between two independent speckle fields);
the tissue above stays still (the seashore sign in M-mode). Without sliding nothing below the
pleura moves relative to the chest wall (the barcode sign). In both classes: the whole chest wall
rises and falls with breathing, the hand and probe drift, gain and depth differ between
patients, and some patients without sliding show the lung pulse (a small cardiac-rate motion of
the pleura).
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .._utils.io import atomic_directory, rebuild_unless_stamped
from .video import write_video

#: how fast the lung speckle decorrelates as the lung slides (rad of field rotation per mm of path):
#: scatterers below the pleura rearrange and move out of plane, which gives the seashore sign its
#: sand. In M-mode the sand changes from one frame to the next within a few frames (about 0.1-0.3 s);
#: at a typical 2 mm/s that takes about 3 rad/mm. (An earlier 0.8 rad/mm decorrelated over about
#: a second: its M-mode drew streaks, closer to a barcode than to sand.)
SHIMMER_RAD_PER_MM = 3.0
STANDIN_VERSION = 2

SOURCES = {
    "pleura_below_ribs_mm": "the pleural line lies about 0.5 cm below the rib line (FACTS.md, lung-ultrasound anatomy)",
    "sliding_speed_mm_s": "pleural sliding speeds of about 0.5-4.4 mm/s (FACTS.md)",
    "breaths_per_min": "breathing at 12-20 breaths per minute (FACTS.md)",
    "rayleigh": "fully developed speckle has a Rayleigh envelope, mean/std about 1.91 (FACTS.md)",
    "patients": "48 patients, 28 with sliding and 20 without (paper, Sect. 3.1)",
    "formats": "854x480 or 640x480, 30 or 54 fps, MP4 or AVI (paper, Sect. 3.1)",
    "seconds": "3-18 s with sliding, 2-11 s without (paper, Sect. 3.1)",
    "depth_mm": "linear-probe lung presets image 4-8 cm deep (zoom differs between patients: paper, Sect. 3.1)",
    "heart_rate": "lung pulse at the heart rate, 60-100 beats per minute",
    "shimmer_rad_per_mm": "chosen so the M-mode sand below a sliding pleura decorrelates within a few frames "
                          "(the seashore sign; SHIMMER_RAD_PER_MM)",
    "lung_echo": "sub-pleural artefacts a third as bright as the tissue above: about 10 dB darker, as the "
                 "area below the pleura in B-mode images (an estimate, not a measurement)",
}


@dataclass(frozen=True)
class LungStandinSpec:
    """What to simulate; ``scale`` < 1 renders smaller frames (the fast profile), everything else in mm/s."""

    n_present: int = 28
    n_absent: int = 20
    widths: tuple[int, ...] = (854, 640)
    height: int = 480
    fps: tuple[int, ...] = (30, 54)
    seconds_present: tuple[float, float] = (3.0, 18.0)
    seconds_absent: tuple[float, float] = (2.0, 11.0)
    containers: tuple[str, ...] = (".mp4", ".avi")
    scale: float = 1.0
    depth_mm: tuple[float, float] = (40.0, 80.0)
    rib_depth_mm: tuple[float, float] = (10.0, 20.0)
    pleura_below_ribs_mm: float = 5.0
    sliding_speed_mm_s: tuple[float, float] = (0.5, 4.4)
    breaths_per_min: tuple[float, float] = (12.0, 20.0)
    chest_wall_mm: tuple[float, float] = (0.2, 1.0)      # vertical breathing motion of the whole image
    hand_drift_mm: float = 0.3                          # standard deviation of the probe's slow drift
    lung_pulse_share: float = 0.5                       # patients without sliding that show a lung pulse
    b_lines_mean: float = 1.0                           # Poisson mean of B-lines per patient
    shimmer_rad_per_mm: float = SHIMMER_RAD_PER_MM
    lung_echo: float = 0.3                              # lung speckle amplitude just below the pleura

    def frame_size(self, width: int) -> tuple[int, int]:
        """(height, width) rendered, even numbers (4:2:0 video needs them)."""
        return 2 * round(self.height * self.scale / 2), 2 * round(width * self.scale / 2)


@dataclass(frozen=True)
class Patient:
    """One simulated patient and video: every random choice, so a video can be re-rendered."""

    patient: str
    sliding: bool
    width: int
    fps: int
    seconds: float
    container: str
    depth_mm: float
    rib_depth_mm: float
    rib_x: tuple[float, float]        # rib centres, as fractions of the width
    rib_radius_mm: float
    gain: float
    speed_mm_s: float                 # peak sliding speed (0 without sliding)
    breath_hz: float
    breath_phase: float
    chest_wall_mm: float
    lung_pulse_mm: float
    heart_hz: float
    b_lines: tuple[float, ...]        # lateral positions, fractions of the rib gap
    seed: int


def draw_patients(spec: LungStandinSpec, seed: int) -> list[Patient]:
    """The cohort: ``n_present`` patients with sliding and ``n_absent`` without, every choice drawn once."""
    rng = np.random.default_rng(seed)
    out = []
    for i, sliding in enumerate([True] * spec.n_present + [False] * spec.n_absent):
        secs = spec.seconds_present if sliding else spec.seconds_absent
        gap_left, gap_right = rng.uniform(0.12, 0.25), rng.uniform(0.75, 0.88)
        n_b = int(rng.poisson(spec.b_lines_mean))
        out.append(Patient(
            patient=f"P{i + 1:02d}", sliding=sliding, width=int(rng.choice(spec.widths)), fps=int(rng.choice(spec.fps)),
            seconds=float(np.round(rng.uniform(*secs), 1)), container=str(rng.choice(spec.containers)),
            depth_mm=float(rng.uniform(*spec.depth_mm)), rib_depth_mm=float(rng.uniform(*spec.rib_depth_mm)),
            rib_x=(float(gap_left), float(gap_right)), rib_radius_mm=float(rng.uniform(4.0, 6.5)),
            gain=float(rng.uniform(0.75, 1.25)),
            speed_mm_s=float(rng.uniform(*spec.sliding_speed_mm_s)) if sliding else 0.0,
            breath_hz=float(rng.uniform(*spec.breaths_per_min) / 60), breath_phase=float(rng.uniform(0, 2 * np.pi)),
            chest_wall_mm=float(rng.uniform(*spec.chest_wall_mm)),
            lung_pulse_mm=float(rng.uniform(0.1, 0.4)) if (not sliding and rng.random() < spec.lung_pulse_share) else 0.0,
            heart_hz=float(rng.uniform(60, 100) / 60),
            b_lines=tuple(float(v) for v in rng.uniform(0.1, 0.9, n_b)), seed=int(rng.integers(2**31)),
        ))
    return out


def patient_motion(p: Patient, spec: LungStandinSpec, t: np.ndarray) -> dict[str, np.ndarray]:
    """Per-frame motions (mm) of a patient's video at times ``t`` (s, the whole video).

    ``sliding`` (lateral, lung and pleura only), ``decorrelation`` (shimmer phase, rad), ``chest``
    and ``hand_z`` (vertical, the whole image), ``hand_x`` (lateral, the whole image), ``pulse``
    (vertical, the pleura and lung only).
    """
    w = 2 * np.pi * p.breath_hz
    rng = np.random.default_rng(p.seed + 1)
    drift = np.cumsum(rng.standard_normal((len(t), 2)), 0)
    drift = spec.hand_drift_mm * drift / max(np.abs(drift).max(), 1e-9)
    sliding = (p.speed_mm_s / w) * np.sin(w * t + p.breath_phase)
    path = np.concatenate([[0.0], np.cumsum(np.abs(np.diff(sliding)))])
    return {"sliding": sliding, "decorrelation": spec.shimmer_rad_per_mm * path,
            "chest": p.chest_wall_mm * np.sin(w * t + p.breath_phase),
            "hand_x": drift[:, 0], "hand_z": drift[:, 1],
            "pulse": p.lung_pulse_mm * np.sin(2 * np.pi * p.heart_hz * t)}


def pleura_depth_px(p: Patient, spec: LungStandinSpec, fps: float, n_frames: int) -> np.ndarray:
    """Depth of the pleural line (px of the rendered video) in each of its first ``n_frames`` frames at ``fps``.

    The pleura sits ``pleura_below_ribs_mm`` below the ribs, moves with the lung pulse, and the
    whole image moves with the chest wall and the hand (what :meth:`Scene.frame` renders).
    """
    h = spec.frame_size(p.width)[0]
    px_per_mm = h / p.depth_mm
    m = patient_motion(p, spec, np.arange(int(round(p.seconds * p.fps))) / p.fps)
    k = np.minimum(np.floor(np.arange(n_frames) * p.fps / fps + 1e-9).astype(int), len(m["chest"]) - 1)
    z = p.rib_depth_mm + spec.pleura_below_ribs_mm + m["pulse"][k] + m["chest"][k] + m["hand_z"][k]
    return z * px_per_mm


def speckle_field(rng: np.random.Generator, shape: tuple[int, int], psf_px: tuple[float, float]) -> np.ndarray:
    """Complex scatterers blurred by a separable Gaussian PSF (axial, lateral sigma in px), (H, W) complex64.

    Its magnitude is Rayleigh-distributed (fully developed speckle).
    """
    from scipy import ndimage

    z = rng.standard_normal(shape) + 1j * rng.standard_normal(shape)
    re = ndimage.gaussian_filter(z.real, psf_px, mode="wrap")
    im = ndimage.gaussian_filter(z.imag, psf_px, mode="wrap")
    field = (re + 1j * im).astype(np.complex64)
    return field / np.sqrt(np.mean(np.abs(field) ** 2))


def _shift_cols(field: np.ndarray, shift_px: float, width: int, margin: int) -> np.ndarray:
    """Columns ``margin - shift .. margin - shift + width`` of ``field``, linearly interpolated (lateral motion)."""
    pos = margin - shift_px
    i0 = int(math.floor(pos))
    f = pos - i0
    return (1 - f) * field[:, i0:i0 + width] + f * field[:, i0 + 1:i0 + 1 + width]


class Scene:
    """A patient's anatomy on a (H, W) pixel grid, rendered frame by frame (:meth:`frame`)."""

    def __init__(self, p: Patient, spec: LungStandinSpec) -> None:
        self.p, self.spec = p, spec
        self.h, self.w = spec.frame_size(p.width)
        self.px_per_mm = self.h / p.depth_mm
        rng = np.random.default_rng(p.seed)
        self.margin = int(math.ceil((p.speed_mm_s / (2 * np.pi * p.breath_hz) + 2) * self.px_per_mm)) + 2
        psf = (max(0.3 * self.px_per_mm, 0.6), max(0.6 * self.px_per_mm, 0.8))    # axial, lateral sigma (px)
        wide = self.w + 2 * self.margin
        self.tissue = np.abs(speckle_field(rng, (self.h, self.w), psf))
        self.lung = [speckle_field(rng, (self.h, wide), psf) for _ in range(2)]
        self.pleura_tex = np.abs(speckle_field(rng, (1, wide), (0.1, 1.5 * psf[1])))[0]
        z = np.arange(self.h)[:, None] / self.px_per_mm              # depth, mm
        x = np.arange(self.w)[None, :] / self.px_per_mm              # lateral, mm
        self.z, self.x = z, x
        self.rib_z = p.rib_depth_mm
        self.pleura_z = p.rib_depth_mm + spec.pleura_below_ribs_mm
        width_mm = self.w / self.px_per_mm
        self.rib_x = [f * width_mm for f in p.rib_x]
        # soft-tissue layers: skin, fat, muscle with fascia lines, between the probe and the pleura
        layers = 0.6 + 0.2 * np.cos(2 * np.pi * z / rng.uniform(3.0, 6.0)) + 0.35 * np.exp(-z / 0.8)
        fascia = sum(0.6 * np.exp(-((z - d) / 0.35) ** 2) for d in rng.uniform(2, self.rib_z - 1, 3))
        self.tissue_echo = (layers + fascia).astype(np.float32)
        # ribs: a bright surface arc, and the shadow under it
        self.rib_surface = np.zeros((self.h, self.w), np.float32)
        self.shadow = np.ones((self.h, self.w), np.float32)
        for cx in self.rib_x:
            dx = x - cx
            inside = np.abs(dx) < p.rib_radius_mm
            top = self.rib_z + np.where(inside, p.rib_radius_mm - np.sqrt(np.clip(p.rib_radius_mm ** 2 - dx ** 2, 0, None)), 0)
            self.rib_surface += (inside * 2.2 * np.exp(-((z - top) / 0.5) ** 2)).astype(np.float32)
            self.shadow *= np.where(inside & (z > top + 0.5), 0.06, 1.0).astype(np.float32)
        self.b_line_x = [self.rib_x[0] + p.rib_radius_mm + f * (self.rib_x[1] - self.rib_x[0] - 2 * p.rib_radius_mm)
                         for f in p.b_lines]

    def motion(self, t: np.ndarray) -> dict[str, np.ndarray]:
        """Per-frame motions (mm) at times ``t`` (s) of the whole video: see :func:`patient_motion`."""
        return patient_motion(self.p, self.spec, t)

    def frame(self, k: int, m: dict[str, np.ndarray]) -> np.ndarray:
        """Frame k as float32 echo amplitude (before gain and log compression)."""
        h, w, px = self.h, self.w, self.px_per_mm
        dz = m["chest"][k] + m["hand_z"][k]                       # whole image moves vertically, mm (below)
        z = self.z
        slide_px = m["sliding"][k] * px
        # the lung: speckle moving with sliding, shimmering between two fields, fading with depth
        phi = m["decorrelation"][k]
        lung_c = np.cos(phi) * _shift_cols(self.lung[0], slide_px, w, self.margin) + \
            np.sin(phi) * _shift_cols(self.lung[1], slide_px, w, self.margin)
        below = z > self.pleura_z + m["pulse"][k]
        lung = np.abs(lung_c) * np.where(below, self.spec.lung_echo * np.exp(-(z - self.pleura_z) / 45.0), 0.0)
        # A-lines: static reverberations of the pleura at multiples of its depth
        a_lines = sum(1.6 * 0.6 ** n * np.exp(-((z - (n + 1) * self.pleura_z) / 0.45) ** 2) for n in range(1, 6))
        # B-lines: vertical comet tails from the pleura, moving with sliding, erasing the A-lines
        b = np.zeros((h, w), np.float32)
        for bx in self.b_line_x:
            b_x = bx + m["sliding"][k]
            b += (np.exp(-((self.x - b_x) / 1.2) ** 2) * below).astype(np.float32)
        b = np.clip(b, 0, 1)
        pleura_row = _shift_cols(self.pleura_tex[None, :], slide_px, w, self.margin)
        pleura = 6.0 * np.exp(-((z - self.pleura_z - m["pulse"][k]) / 0.5) ** 2) * (0.6 + 0.4 * pleura_row)
        deep = (lung + a_lines * (1 - b) * np.abs(lung_c) + 2.5 * b * (0.5 + 0.5 * np.abs(lung_c)) * np.exp(-(z - self.pleura_z) / 60.0)) * below + pleura
        # soft tissue down to the pleura (intercostal muscle between the rib line and the pleura is duller)
        tissue = self.tissue_echo * self.tissue * np.where(z < self.rib_z, 1.0, np.where(below, 0.0, 0.35))
        img = (tissue + deep + self.rib_surface) * self.shadow
        img = self._translate(img, m["hand_x"][k] * px, dz * px)
        return img.astype(np.float32)

    @staticmethod
    def _translate(img: np.ndarray, dx_px: float, dz_px: float) -> np.ndarray:
        from scipy import ndimage

        return ndimage.shift(img, (dz_px, dx_px), order=1, mode="nearest")

    def render(self) -> np.ndarray:
        """All frames as uint8 (T, H, W): gain, time-gain compensation, log compression."""
        n = int(round(self.p.seconds * self.p.fps))
        m = self.motion(np.arange(n) / self.p.fps)
        out = np.empty((n, self.h, self.w), np.uint8)
        tgc = (1 + 0.01 * self.z).astype(np.float32)        # time-gain compensation: +1% per mm of depth
        for k in range(n):
            amp = self.frame(k, m) * self.p.gain * tgc
            db = 20 * np.log10(amp + 1e-3)
            out[k] = np.clip((db + 30) / 60 * 255, 0, 255).astype(np.uint8)         # 60 dB dynamic range
        return out

    def roi(self) -> dict[str, int]:
        """The pleural region between the ribs a clinician would mark (pixels of this video)."""
        px = self.px_per_mm
        left = int((self.rib_x[0] + self.p.rib_radius_mm + 1.0) * px)
        right = int((self.rib_x[1] - self.p.rib_radius_mm - 1.0) * px)
        top = int((self.pleura_z - 1.5) * px)
        return {"top": top, "bottom": min(self.h, top + self.h // 2), "left": left, "right": right}


def write_standin(root: str | Path, spec: LungStandinSpec, seed: int, *, overwrite: bool = False) -> Path:
    """Render the cohort into ``root`` (atomically): videos/, videos.csv, roi.csv, truth.json."""
    patients = draw_patients(spec, seed)
    with atomic_directory(root, overwrite=overwrite) as tmp:
        rows, rois, truth = [], [], {}
        for p in patients:
            scene = Scene(p, spec)
            name = f"videos/{p.patient}{p.container}"
            write_video(tmp / name, scene.render(), p.fps)
            rows.append({"patient": p.patient, "file": name, "label": "present" if p.sliding else "absent"})
            rois.append({"file": name, **scene.roi()})
            truth[name] = {**asdict(p), "pleura_depth_px": scene.pleura_z * scene.px_per_mm,
                           "px_per_mm": scene.px_per_mm}
        pd.DataFrame(rows).to_csv(tmp / "videos.csv", index=False)
        pd.DataFrame(rois).to_csv(tmp / "roi.csv", index=False)
        (tmp / "truth.json").write_text(json.dumps({"spec": asdict(spec), "seed": seed, "videos": truth}, indent=1))
    return Path(root)


def ensure_standin(root: str | Path, spec: LungStandinSpec, seed: int) -> Path:
    """Render the stand-in into ``root`` unless an identical one (same spec, seed, version) is there."""
    stamp = {"version": STANDIN_VERSION, "seed": seed, "spec": asdict(spec)}
    return rebuild_unless_stamped(root, stamp, lambda r: write_standin(r, spec, seed, overwrite=True))


def load_truth(root: str | Path) -> tuple[LungStandinSpec, dict[str, Patient]]:
    """What the simulator knows about each video of a stand-in folder (``truth.json``), by file name."""
    data = json.loads((Path(root) / "truth.json").read_text())
    spec = LungStandinSpec(**{k: tuple(v) if isinstance(v, list) else v for k, v in data["spec"].items()})
    fields = set(Patient.__dataclass_fields__)
    patients = {name: Patient(**{k: tuple(v) if isinstance(v, list) else v for k, v in entry.items() if k in fields})
                for name, entry in data["videos"].items()}
    return spec, patients
