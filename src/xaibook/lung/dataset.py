"""Lung-ultrasound videos of a clinic, and the paper's preprocessing into clips and patches (chapter 03).

The folder a clinic fills (the stand-in writes the same)::

    <data_dir>/
      videos.csv    patient, file, label            label: "present" or "absent" (lung sliding)
                    [+ split: "train" / "test" to fix the split yourself]
      roi.csv       file, top, bottom, left, right   the pleural region between two ribs, in the
                                                     video's own pixels (Kolarik et al. marked it by hand)
      videos/...    MP4 or AVI, any length, 30 fps or more, any size (854x480 and 640x480 in the paper)

Preprocessing as Kolarik et al. (Sect. 3.1.1): every video is brought to 640x480 at 30 fps
(:func:`unify`), cut into 2-second clips of 60 frames (:func:`cut_clips`), and the marked region
of each clip is tiled into square patches of 60 frames (:func:`tile_patches`); the ``2_`` data
sets keep the first two rows of patches (at the pleura), the ``all_`` sets every row; videos are
split 70:30 by patient (:func:`split_patients`).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from .video import LungDataError, read_video

LABELS = {"present": 1, "absent": 0}
VIDEO_COLUMNS = ("patient", "file", "label")
ROI_COLUMNS = ("file", "top", "bottom", "left", "right")
PAPER_SIZE = (480, 640)          # unified frame (height, width)
PAPER_FPS = 30
CLIP_FRAMES = 60
PATCHES = (30, 60, 90)
LAYOUT = ("a folder with videos.csv (patient, file, label), roi.csv (file, top, bottom, left, right) and the "
          "video files; see the README, 'Lung ultrasound: your own videos'")


def _read_table(path: Path, columns: tuple[str, ...]) -> pd.DataFrame:
    if not path.is_file():
        raise LungDataError(f"{path}: not found; the data folder needs {LAYOUT}")
    try:
        table = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise LungDataError(f"{path}: not a readable CSV table ({err})") from err
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise LungDataError(f"{path}: missing column(s) {missing}; expected {list(columns)}")
    return table


def load_index(root: str | Path) -> pd.DataFrame:
    """videos.csv joined with roi.csv, checked row by row; ``y`` = 1 for lung sliding present."""
    root = Path(root)
    if not root.is_dir():
        raise LungDataError(f"{root}: data folder not found; point data_dir at {LAYOUT}")
    videos = _read_table(root / "videos.csv", VIDEO_COLUMNS)
    rois = _read_table(root / "roi.csv", ROI_COLUMNS)
    for i, row in videos.iterrows():
        if row["label"] not in LABELS:
            raise LungDataError(f"{root / 'videos.csv'} row {i + 2}: label {row['label']!r} is not one of "
                                f"{sorted(LABELS)}")
        if not (root / str(row["file"])).is_file():
            raise LungDataError(f"{root / 'videos.csv'} row {i + 2}: video {row['file']} not found under {root}")
    dup = videos["file"][videos["file"].duplicated()]
    if len(dup):
        raise LungDataError(f"{root / 'videos.csv'}: video {dup.iloc[0]} is listed twice")
    labels_per_patient = videos.groupby("patient")["label"].nunique()
    if (labels_per_patient > 1).any():
        raise LungDataError(f"{root / 'videos.csv'}: patient {labels_per_patient.idxmax()} has videos with both labels; "
                            f"the paper labels one video per patient")
    if "split" in videos.columns:
        bad = videos[~videos["split"].isin(["train", "test"])]
        if len(bad):
            raise LungDataError(f"{root / 'videos.csv'} row {bad.index[0] + 2}: split {bad['split'].iloc[0]!r} is not "
                                f"'train' or 'test'")
        both = videos.groupby("patient")["split"].nunique()
        if (both > 1).any():
            raise LungDataError(f"{root / 'videos.csv'}: patient {both.idxmax()} is in both splits; a patient-wise "
                                f"split keeps all of a patient's videos on one side")
    missing = sorted(set(videos["file"]) - set(rois["file"]))
    if missing:
        raise LungDataError(f"{root / 'roi.csv'}: no region of interest for {missing[0]}; mark the pleural region "
                            f"between two ribs (top, bottom, left, right in the video's pixels)")
    dup = rois["file"][rois["file"].duplicated()]
    if len(dup):
        raise LungDataError(f"{root / 'roi.csv'}: video {dup.iloc[0]} has two regions; mark one per video")
    rois = rois.assign(roi_row=rois.index + 2)
    table = videos.merge(rois, on="file", how="left", validate="one_to_one")
    for c in ("top", "bottom", "left", "right"):
        if not pd.api.types.is_integer_dtype(table[c]):
            raise LungDataError(f"{root / 'roi.csv'}: column {c} must hold whole pixel numbers")
    table["y"] = table["label"].map(LABELS).astype(int)
    return table


def unify(frames: np.ndarray, fps: float, *, size: tuple[int, int] = PAPER_SIZE, target_fps: int = PAPER_FPS,
          source: str = "video") -> np.ndarray:
    """(T, H, W) uint8 frames at ``fps`` -> (T', *size) uint8 at ``target_fps``, the same length in seconds.

    Frames are taken at the target rate's instants (nearest earlier frame, as FFmpeg's ``-r``
    drops frames); each frame is resized bilinearly (854x480 is squeezed to 640x480 as the paper's
    uniform resolution implies). Fewer frames per second than the target cannot be made up: refused.
    """
    if fps + 1e-6 < target_fps:
        raise LungDataError(f"{source}: {fps:g} fps is below the {target_fps} fps the preprocessing needs; "
                            f"record at {target_fps} fps or more")
    n_out = int(np.floor(len(frames) / fps * target_fps + 1e-9))
    idx = np.minimum(np.floor(np.arange(n_out) * fps / target_fps + 1e-9).astype(int), len(frames) - 1)
    picked = torch.from_numpy(np.ascontiguousarray(frames[idx])).float()[:, None]
    if tuple(picked.shape[2:]) != size:
        picked = F.interpolate(picked, size=size, mode="bilinear", align_corners=False, antialias=True)
    return picked[:, 0].round().clamp(0, 255).to(torch.uint8).numpy()


def scale_roi(roi: dict[str, int], frame: tuple[int, int], size: tuple[int, int] = PAPER_SIZE,
              source: str = "video") -> dict[str, int]:
    """A region of interest in the video's pixels -> the unified frame's pixels (checked inside the frame)."""
    h, w = frame
    if not (0 <= roi["top"] < roi["bottom"] <= h and 0 <= roi["left"] < roi["right"] <= w):
        raise LungDataError(f"{source}: region top={roi['top']}, bottom={roi['bottom']}, left={roi['left']}, "
                            f"right={roi['right']} is not inside the {w}x{h} frame; mark it in the video's own pixels "
                            f"(0 <= top < bottom <= {h}, 0 <= left < right <= {w})")
    sy, sx = size[0] / h, size[1] / w
    return {"top": int(round(roi["top"] * sy)), "bottom": int(round(roi["bottom"] * sy)),
            "left": int(round(roi["left"] * sx)), "right": int(round(roi["right"] * sx))}


def cut_clips(frames: np.ndarray, length: int = CLIP_FRAMES) -> np.ndarray:
    """Consecutive, non-overlapping clips of ``length`` frames, (n, length, H, W); the remainder is dropped."""
    n = len(frames) // length
    return frames[: n * length].reshape(n, length, *frames.shape[1:])


def tile_patches(clip: np.ndarray, roi: dict[str, int], patch: int) -> np.ndarray:
    """Square patches of a clip's region of interest, row by row from its top: (rows, cols, T, patch, patch).

    Only whole patches: a region narrower or shorter than one patch gives none (checked by the caller).
    """
    rows = (roi["bottom"] - roi["top"]) // patch
    cols = (roi["right"] - roi["left"]) // patch
    region = clip[:, roi["top"]:roi["top"] + rows * patch, roi["left"]:roi["left"] + cols * patch]
    t = clip.shape[0]
    return region.reshape(t, rows, patch, cols, patch).transpose(1, 3, 0, 2, 4)


@dataclass(frozen=True)
class PatchSet:
    """One of the paper's data sets (e.g. ``all_30x30``): patches with their labels and origins."""

    name: str
    patches: np.ndarray          # uint8 (N, T, P, P)
    y: np.ndarray                # int (N,), 1 = sliding present
    patient: np.ndarray          # (N,) patient ids
    clip: np.ndarray             # (N,) clip index within the whole collection
    row: np.ndarray              # (N,) patch row from the top of the region (0 = at the pleura)

    def counts(self) -> dict[str, int]:
        return {"patches": int(len(self.y)), "present": int(self.y.sum()), "absent": int((1 - self.y).sum())}


def data_set_names(patches: tuple[int, ...] = PATCHES) -> list[str]:
    """The paper's six data sets: ``2_30x30``, ``all_30x30``, ... (rows, patch size)."""
    return [f"{rows}_{p}x{p}" for p in patches for rows in ("2", "all")]


def build_patch_sets(clips: list[np.ndarray], rois: list[dict[str, int]], y: list[int], patients: list[str],
                     patches: tuple[int, ...] = PATCHES) -> dict[str, PatchSet]:
    """All six data sets from the unified clips (one ROI per clip), as the paper's Fig. 4 counts them."""
    out: dict[str, list] = {name: [] for name in data_set_names(patches)}
    for c, (clip, roi, label, patient) in enumerate(zip(clips, rois, y, patients)):
        for p in patches:
            tiles = tile_patches(clip, roi, p)
            for rows_name, keep in (("2", 2), ("all", tiles.shape[0])):
                for r in range(min(keep, tiles.shape[0])):
                    for col in range(tiles.shape[1]):
                        out[f"{rows_name}_{p}x{p}"].append((tiles[r, col], label, patient, c, r))
    sets = {}
    for name, items in out.items():
        if not items:
            sets[name] = PatchSet(name, np.zeros((0, clips[0].shape[0] if clips else CLIP_FRAMES, 1, 1), np.uint8),
                                  np.zeros(0, int), np.zeros(0, object), np.zeros(0, int), np.zeros(0, int))
            continue
        arrays = list(zip(*items))
        sets[name] = PatchSet(name, np.stack(arrays[0]), np.array(arrays[1]), np.array(arrays[2], dtype=object),
                              np.array(arrays[3]), np.array(arrays[4]))
    return sets


def split_patients(table: pd.DataFrame, test_share: float = 0.3, seed: int = 0) -> dict[str, str]:
    """Patient -> "train" / "test", 70:30 by patient within each class (``split`` column wins if present)."""
    if "split" in table.columns:
        return dict(zip(table["patient"], table["split"]))
    rng = np.random.default_rng(seed)
    out = {}
    for label in sorted(table["y"].unique()):
        people = sorted(table.loc[table["y"] == label, "patient"].unique())
        rng.shuffle(people)
        n_test = int(round(test_share * len(people)))
        out.update({p: ("test" if i < n_test else "train") for i, p in enumerate(people)})
    return out


@dataclass(frozen=True)
class LungClips:
    """Every unified 60-frame clip of the collection, with its region, label and patient."""

    clips: list[np.ndarray]
    rois: list[dict[str, int]]
    y: list[int]
    patients: list[str]
    files: list[str]


def load_clips(root: str | Path, *, size: tuple[int, int] = PAPER_SIZE, target_fps: int = PAPER_FPS,
               clip_frames: int = CLIP_FRAMES, min_patch: int = min(PATCHES)) -> tuple[pd.DataFrame, LungClips]:
    """Read, unify and cut every video of a data folder; regions are checked against the frame and patch size."""
    root = Path(root)
    table = load_index(root)
    out = LungClips([], [], [], [], [])
    for _, row in table.iterrows():
        source = str(root / row["file"])
        where = f"{root / 'roi.csv'} row {row['roi_row']} ({row['file']})"
        video = read_video(root / row["file"])
        h, w = video.frames.shape[1:]
        if h < size[0] or w < size[1]:
            raise LungDataError(f"{source}: {w}x{h} frames are smaller than the {size[1]}x{size[0]} the preprocessing "
                                f"unifies to, and upscaling would invent detail; export the video at {size[1]}x{size[0]} "
                                f"or more (the paper's are 854x480 and 640x480)")
        roi = scale_roi({k: int(row[k]) for k in ("top", "bottom", "left", "right")}, (h, w), size, where)
        if roi["bottom"] - roi["top"] < min_patch or roi["right"] - roi["left"] < min_patch:
            raise LungDataError(f"{where}: the region is {roi['right'] - roi['left']}x"
                                f"{roi['bottom'] - roi['top']} px after unifying to {size[1]}x{size[0]}, smaller than "
                                f"one {min_patch}x{min_patch} patch; mark the whole pleural region between the ribs")
        frames = unify(video.frames, video.fps, size=size, target_fps=target_fps, source=source)
        for clip in cut_clips(frames, clip_frames):
            out.clips.append(clip)
            out.rois.append(roi)
            out.y.append(int(row["y"]))
            out.patients.append(str(row["patient"]))
            out.files.append(str(row["file"]))
    if not out.clips:
        raise LungDataError(f"{root}: no video is {clip_frames / target_fps:g} s long; nothing to cut into clips")
    return table, out


def m_mode(clip: np.ndarray, column: int | None = None, median: int = 3) -> np.ndarray:
    r"""An M-mode image of a (T, H, W) clip: one image column over time, (H, T) uint8.

    As the open M-mode pipeline of VanBerlo et al. 2022 (after Jaščur et al. 2021): a ``median`` x
    ``median`` median filter, then the column through the brightest pixel of the time-averaged
    frame (the pleural line), unless ``column`` is given.
    """
    from scipy import ndimage

    if column is None:
        mean = ndimage.median_filter(clip.mean(0), size=median)
        column = int(np.unravel_index(np.argmax(mean), mean.shape)[1])
    return np.ascontiguousarray(clip[:, :, column].T)
