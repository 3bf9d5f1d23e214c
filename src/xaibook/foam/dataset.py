"""Foam image folders: the layout a lab uses for its own images, and its loader (chapter 01_foam).

Layout::

    <data_dir>/
      manifest.csv            one row per image
      images/...              any sub-folders; paths in the manifest are relative to data_dir

Required manifest columns:

==========  ================================================================
image       relative path of a PNG/JPEG crop of the vessel (side view)
run         experiment/run id (integer); the binary test set holds out one run
camera      camera name (free text, e.g. ``smartphone``)
frame       frame index within the run and camera (for temporal averaging)
label       ``no``, ``low``, ``medium`` or ``high`` (foam level, the expert's label)
==========  ================================================================

Optional columns, used where present: ``time_s`` (seconds since the run started), ``volume_ml``,
``dye``, ``bench_light`` (design factors,
for the factor analysis) and ``box_top``, ``box_bottom``, ``box_left``, ``box_right`` (the
liquid-gas interface and foam region in pixels of the stored image, for the GradCAM++ energy
measure). The stand-in writes all of them.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image, UnidentifiedImageError

CLASSES = ("no", "low", "medium", "high")
MANIFEST = "manifest.csv"
REQUIRED_COLUMNS = ("image", "run", "camera", "frame")
BOX_COLUMNS = ("box_top", "box_bottom", "box_left", "box_right")
FACTOR_COLUMNS = ("volume_ml", "dye", "bench_light")

HOW_TO_GET = ("The real images of Austerjost et al. 2021 belong to Sartorius and are not public. "
              "Either render the stand-in (xaibook.foam.write_standin, done by the chapter when "
              "data='synthetic'), or put your own images under this folder with a manifest.csv as "
              "documented in xaibook.foam.dataset and the README ('Your own foam images').")


class FoamDataError(ValueError):
    """A foam data folder that is missing or malformed; the message names the file and the fix."""


def load_manifest(data_dir: str | Path) -> pd.DataFrame:
    """Read and validate ``<data_dir>/manifest.csv``; adds an integer ``y`` column (0..3)."""
    data_dir = Path(data_dir)
    path = data_dir / MANIFEST
    if not data_dir.is_dir():
        raise FoamDataError(f"foam data folder {data_dir} does not exist. {HOW_TO_GET}")
    if not path.is_file():
        raise FoamDataError(f"{path} is missing: a foam data folder needs a manifest.csv. {HOW_TO_GET}")
    try:
        df = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise FoamDataError(f"{path} is not a readable CSV file ({err}). Rewrite it with the columns "
                            f"{', '.join(REQUIRED_COLUMNS + ('label',))}.") from err
    missing = [c for c in REQUIRED_COLUMNS + ("label",) if c not in df.columns]
    if missing:
        raise FoamDataError(f"{path} lacks the column(s) {', '.join(missing)}; found {', '.join(df.columns)}. "
                            f"See xaibook.foam.dataset for the manifest format.")
    if df.empty:
        raise FoamDataError(f"{path} has no rows")
    bad = ~df["label"].isin(CLASSES)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise FoamDataError(f"{path}, data row {row + 1} (image {df['image'].iloc[row]!r}): label "
                            f"{df['label'].iloc[row]!r} is not one of {', '.join(CLASSES)}")
    for col in ("run", "frame"):
        if not pd.api.types.is_integer_dtype(df[col]):
            raise FoamDataError(f"{path}: column {col!r} must hold integers, found {df[col].dtype}")
    present = [c for c in BOX_COLUMNS if c in df.columns]
    if present and len(present) != len(BOX_COLUMNS):
        raise FoamDataError(f"{path}: give all of {', '.join(BOX_COLUMNS)} or none (found {', '.join(present)})")
    if df["image"].duplicated().any():
        dup = df["image"][df["image"].duplicated()].iloc[0]
        raise FoamDataError(f"{path}: image {dup!r} is listed twice")
    df = df.copy()
    df["y"] = df["label"].map({c: i for i, c in enumerate(CLASSES)}).astype(int)
    return df


def load_images(data_dir: str | Path, manifest: pd.DataFrame, size: int) -> torch.Tensor:
    """All images of ``manifest`` as one uint8 tensor (N, 3, size, size), resized bilinearly.

    A missing or unreadable image raises :class:`FoamDataError` naming the file.
    """
    data_dir = Path(data_dir)
    out = torch.empty((len(manifest), 3, size, size), dtype=torch.uint8)
    for i, rel in enumerate(manifest["image"]):
        path = data_dir / rel
        try:
            with Image.open(path) as im:
                im = im.convert("RGB")
                if im.size != (size, size):
                    im = im.resize((size, size), Image.BILINEAR)
                arr = np.asarray(im)
        except FileNotFoundError as err:
            raise FoamDataError(f"{path} is listed in {data_dir / MANIFEST} but does not exist"
                                f"{_generated_hint(data_dir)}") from err
        except (UnidentifiedImageError, OSError) as err:
            fix = _generated_hint(data_dir) or f"; replace it or drop its row from {data_dir / MANIFEST}"
            raise FoamDataError(f"{path} is not a readable image ({err}){fix}") from err
        out[i] = torch.from_numpy(arr.copy()).permute(2, 0, 1)
    return out


def _generated_hint(data_dir: Path) -> str:
    """For a generated stand-in folder, the fix is to render it again, not to edit its manifest."""
    if (Path(data_dir) / "standin.json").is_file():
        return (f"; {data_dir} is a generated stand-in: delete the folder and run again to render it anew "
                f"(the next run also notices a damaged file by itself)")
    return ""


def box_masks(manifest: pd.DataFrame, stored_size: int, size: int) -> torch.Tensor:
    """Boolean masks (N, size, size) of the interface-and-foam boxes, rescaled from stored pixels."""
    if not all(c in manifest.columns for c in BOX_COLUMNS):
        raise FoamDataError("the manifest has no box_* columns, so the interface region is unknown")
    scale = size / stored_size
    masks = torch.zeros((len(manifest), size, size), dtype=torch.bool)
    for i, (t, b, l, r) in enumerate(manifest[list(BOX_COLUMNS)].to_numpy()):
        masks[i, int(np.floor(t * scale)):int(np.ceil(b * scale)), int(np.floor(l * scale)):int(np.ceil(r * scale))] = True
    return masks
