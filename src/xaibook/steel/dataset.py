"""The Severstal steel images cut into the steel patch dataset of Lorentz et al. 2021 (chapter 04_steel_defects).

Layout (as Kaggle ships it, and as :func:`xaibook.steel.write_standin` writes it)::

    <data_dir>/
      train.csv          defect masks, run-length encoded (see :mod:`xaibook.steel.rle`)
      train_images/      <ImageId>.jpg, 1600 wide x 256 high, grayscale stored as 3 channels

``train.csv`` comes in two published formats, both accepted:

* original: ``ImageId_ClassId,EncodedPixels``, four rows per image (``0002cc93b.jpg_1`` ...
  ``_4``), ``EncodedPixels`` blank where the image has no defect of that class;
* current: ``ImageId,ClassId,EncodedPixels``, one row per (image, class) with a defect only.
  Images without a row have no defect, so the image list comes from ``train_images/``.

Both are normalised by :func:`read_index` into one table, one row per image.

The patch dataset (paper, section 2):

* each image is cut into ``N_PATCHES`` = 6 patches of 256 x 256. ``6 * 256 = 1536``, so 64 columns
  are left over and we drop ``CROP_LEFT`` = 32 at the left and 32 at the right. The paper says
  34 at each side, which would need 1536 + 68 = 1604 columns: the 34 cannot be right, and 32 is
  the only even split (``PAPER_CROP`` keeps the paper's number for the chapter's comparison);
* a pixel is **background** when its grey value is below ``BACKGROUND_THRESHOLD`` = 20 (of 255).
  The black areas beside the strip, where the camera sees past the strip's edge, are near 0 with
  JPEG noise of a few grey levels, while the lit steel surface should sit well above 20 even in
  dark defects and weak illumination; a dark defect pixel counted as background does no harm, as
  only patches that are almost all background are dropped. The value is our choice, made without
  access to the real images: check it on them (a histogram of grey values shows the gap). A patch is dropped when **more than** ``MAX_BACKGROUND_SHARE``
  = 95% of its pixels are background (a patch with exactly 95% is kept);
* a patch's label is the set of defect classes whose mask covers at least one of its pixels:
  0 = no defect, 1-4 = that class, ``MULTIPLE`` (-1) = more than one class. Multi-class patches
  are counted (Table 1's "multiple" row) but not returned for training.

Which images: Table 1 of the paper counts 35,041 patches, while all 12,568 training images give
75,408 patches, and no more than a few thousand of those can be background. The paper says
roughly half of the images carry a defect: about 6,300 x 6 = 37,700 patches, just above 35,041
once background patches are dropped. So the paper cut only the images that have at least one
defect (those with a row in the current ``train.csv``), and its "no defect" patches are the clean
parts of defective images. ``images="defective"`` (default) follows the paper, ``images="all"``
also cuts the images without any defect.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import pandas as pd
import torch
from PIL import Image, UnidentifiedImageError

from .rle import parse_runs, rle_decode

IMAGE_HEIGHT, IMAGE_WIDTH = 256, 1600
PATCH = 256
N_PATCHES = 6
CROP_LEFT = (IMAGE_WIDTH - N_PATCHES * PATCH) // 2    # 32: the 64 surplus columns split evenly
PAPER_CROP = 34                                       # what the paper states; impossible, see above
BACKGROUND_THRESHOLD = 20                             # grey value below which a pixel is background
MAX_BACKGROUND_SHARE = 0.95                           # drop patches with more background than this
CLASSES = (1, 2, 3, 4)
NO_DEFECT = 0
MULTIPLE = -1
LABEL_NAMES = {0: "no defect", 1: "1", 2: "2", 3: "3", 4: "4", MULTIPLE: "multiple"}
TRAIN_CSV = "train.csv"
TRAIN_IMAGES = "train_images"
OLD_HEADER = ("ImageId_ClassId", "EncodedPixels")
CURRENT_HEADER = ("ImageId", "ClassId", "EncodedPixels")
RLE_COLUMNS = tuple(f"rle_{c}" for c in CLASSES)

# Table 1 of Lorentz et al. 2021: patches per class of the steel patch dataset
PAPER_TABLE1 = pd.DataFrame({
    "class": ["1", "2", "3", "4", "no defect", "multiple"],
    "n": [1473, 221, 12245, 1871, 18942, 289],
    "percent": [4.2, 0.6, 34.9, 5.3, 54.0, 0.8],
})

HOW_TO_GET = ("Get the real data with xaibook.steel.download_severstal(data_dir) (needs a Kaggle account "
              "that has accepted the competition rules), or write the synthetic stand-in with "
              "xaibook.steel.write_standin(data_dir).")


class SteelDataError(ValueError):
    """A Severstal data folder that is missing or malformed; the message names the file and the fix."""


# ---------------------------------------------------------------------------------------------
# train.csv -> one row per image


def read_index(data_dir: str | Path) -> pd.DataFrame:
    """One row per training image: ``image_id``, ``rle_1`` ... ``rle_4`` (``""``: no defect of that class).

    Reads ``<data_dir>/train.csv`` in either published format (see the module docstring) and lists
    ``<data_dir>/train_images/``. Sorted by ``image_id``. With the current format the image list
    is the folder's; with the original format it is the csv's, and every listed image must exist.
    Used in chapter 04_steel_defects.
    """
    data_dir = Path(data_dir)
    csv, folder = data_dir / TRAIN_CSV, data_dir / TRAIN_IMAGES
    if not data_dir.is_dir():
        raise SteelDataError(f"Severstal data folder {data_dir} does not exist. {HOW_TO_GET}")
    if not csv.is_file():
        raise SteelDataError(f"{csv} is missing: a Severstal data folder needs the competition's train.csv. {HOW_TO_GET}")
    if not folder.is_dir():
        raise SteelDataError(f"{folder} is missing: a Severstal data folder needs the folder of training JPEGs. {HOW_TO_GET}")
    try:
        raw = pd.read_csv(csv, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise SteelDataError(f"{csv} is not a readable CSV file ({err}). Download it again "
                             f"(xaibook.steel.download_severstal).") from err
    header = tuple(c.strip() for c in raw.columns)
    if header == OLD_HEADER:
        long = _parse_old(raw, csv)
        ids = sorted(set(long["image_id"]))
        missing = [i for i in ids if not (folder / i).is_file()]
        if missing:
            raise SteelDataError(f"{folder / missing[0]} is listed in {csv} but does not exist "
                                 f"({len(missing)} listed images are missing). Download the data again.")
        long = long[long["rle"] != ""]
    elif header == CURRENT_HEADER:
        long = _parse_current(raw, csv)
        ids = sorted(p.name for p in folder.iterdir() if p.suffix.lower() == ".jpg")
        known = set(ids)
        for row, image_id in enumerate(long["image_id"]):
            if image_id not in known:
                raise SteelDataError(f"{csv}, data row {long.index[row] + 1}: image {image_id!r} has a defect "
                                     f"but {folder / image_id} does not exist. Download the data again.")
    else:
        raise SteelDataError(f"{csv} has the header {','.join(raw.columns)!s}, which is neither Severstal "
                             f"format: expected {','.join(OLD_HEADER)} (original, 4 rows per image) or "
                             f"{','.join(CURRENT_HEADER)} (current, rows only for defects).")
    index = pd.DataFrame({"image_id": ids})
    for c, col in zip(CLASSES, RLE_COLUMNS):
        per_class = dict(zip(long.loc[long["class_id"] == c, "image_id"], long.loc[long["class_id"] == c, "rle"]))
        index[col] = [per_class.get(i, "") for i in ids]
    return index


def _parse_old(raw: pd.DataFrame, csv: Path) -> pd.DataFrame:
    ids, classes = [], []
    for row, key in enumerate(raw.iloc[:, 0]):
        image_id, sep, cls = str(key).strip().rpartition("_")
        if not sep or not image_id or cls not in {"1", "2", "3", "4"}:
            raise SteelDataError(f"{csv}, data row {row + 1}: ImageId_ClassId {key!r} is not "
                                 f"'<image>.jpg_<class 1-4>' (e.g. '0002cc93b.jpg_1')")
        ids.append(image_id)
        classes.append(int(cls))
    long = pd.DataFrame({"image_id": ids, "class_id": classes, "rle": raw.iloc[:, 1].str.strip()})
    return _check_rows(long, csv)


def _parse_current(raw: pd.DataFrame, csv: Path) -> pd.DataFrame:
    classes = []
    for row, (image_id, cls) in enumerate(zip(raw.iloc[:, 0], raw.iloc[:, 1])):
        if cls.strip() not in {"1", "2", "3", "4"} or not image_id.strip():
            raise SteelDataError(f"{csv}, data row {row + 1}: ImageId {image_id!r}, ClassId {cls!r}: "
                                 f"the class must be 1, 2, 3 or 4 and the image named")
        classes.append(int(cls))
    long = pd.DataFrame({"image_id": raw.iloc[:, 0].str.strip(), "class_id": classes,
                         "rle": raw.iloc[:, 2].str.strip()})
    empty = np.flatnonzero(long["rle"] == "")
    if len(empty):
        row = int(empty[0])
        raise SteelDataError(f"{csv}, data row {row + 1} (image {long['image_id'].iloc[row]!r}, class "
                             f"{long['class_id'].iloc[row]}): EncodedPixels is blank, but the current format "
                             f"lists defects only; drop the row")
    return _check_rows(long, csv)


def _check_rows(long: pd.DataFrame, csv: Path) -> pd.DataFrame:
    dup = np.flatnonzero(long.duplicated(["image_id", "class_id"]))
    if len(dup):
        row = int(dup[0])
        raise SteelDataError(f"{csv}, data row {row + 1}: image {long['image_id'].iloc[row]!r}, class "
                             f"{long['class_id'].iloc[row]} is listed twice")
    for row, (image_id, cls, rle) in enumerate(long.itertuples(index=False)):
        if rle:
            try:
                parse_runs(rle, (IMAGE_HEIGHT, IMAGE_WIDTH))
            except ValueError as err:
                raise SteelDataError(f"{csv}, data row {row + 1} (image {image_id!r}, class {cls}): "
                                     f"EncodedPixels is malformed: {err}") from err
    return long


def defect_masks(index_row: pd.Series | dict) -> np.ndarray:
    """The four class masks of one image, bool (4, 256, 1600); entry k is class k + 1.

    ``index_row`` is a row of :func:`read_index`. Used in chapter 04_steel_defects.
    """
    return np.stack([rle_decode(index_row[col], (IMAGE_HEIGHT, IMAGE_WIDTH)) for col in RLE_COLUMNS])


# ---------------------------------------------------------------------------------------------
# images -> patches


def read_image(path: str | Path) -> np.ndarray:
    """The grey values of one Severstal JPEG, uint8 (256, 1600).

    A missing, unreadable or wrongly sized file raises :class:`SteelDataError` naming it.
    The images are grey stored as three equal channels, so PIL's ``L`` conversion returns the
    grey value itself. Used in chapter 04_steel_defects.
    """
    path = Path(path)
    try:
        with Image.open(path) as im:
            im.load()
            size = im.size
            grey = np.asarray(im.convert("L"))
    except FileNotFoundError as err:
        raise SteelDataError(f"{path} does not exist; download the data again or drop the image") from err
    except (UnidentifiedImageError, OSError, SyntaxError) as err:
        raise SteelDataError(f"{path} is not a readable JPEG ({err}); download it again or delete it "
                             f"(and its rows in train.csv)") from err
    if size != (IMAGE_WIDTH, IMAGE_HEIGHT):
        raise SteelDataError(f"{path} is {size[0]} wide x {size[1]} high; Severstal images are "
                             f"{IMAGE_WIDTH} x {IMAGE_HEIGHT}. Replace it with the original file.")
    return grey


def patch_columns(index: int) -> slice:
    """Columns of patch ``index`` (0-5) in the 1600-wide image: ``32 + 256 * index`` onwards."""
    if not 0 <= index < N_PATCHES:
        raise ValueError(f"patch index {index} is not in 0..{N_PATCHES - 1}")
    x0 = CROP_LEFT + PATCH * index
    return slice(x0, x0 + PATCH)


def background_share(grey: np.ndarray, threshold: int = BACKGROUND_THRESHOLD) -> float:
    """Share of pixels of ``grey`` (any shape, grey values 0-255) that are background (< ``threshold``)."""
    grey = np.asarray(grey)
    return float(np.count_nonzero(grey < threshold)) / grey.size


def patch_label(classes_present: Sequence[int]) -> int:
    """0 for no class, the class for one class, ``MULTIPLE`` (-1) for several."""
    present = sorted(set(int(c) for c in classes_present))
    if not present:
        return NO_DEFECT
    return present[0] if len(present) == 1 else MULTIPLE


@dataclass(frozen=True)
class _ImagePatches:
    rows: list[dict]
    grey: np.ndarray          # (6, 256, 256) uint8
    masks: np.ndarray         # (6, 256, 256) bool, union over classes


def cut_image(image_id: str, grey: np.ndarray, masks: np.ndarray, *, background_threshold: int = BACKGROUND_THRESHOLD,
              max_background: float = MAX_BACKGROUND_SHARE) -> tuple[list[dict], np.ndarray, np.ndarray]:
    """Cut one image into its 6 patches: the patch rows, grey (6, 256, 256) and union masks (6, 256, 256).

    ``grey`` is uint8 (256, 1600), ``masks`` bool (4, 256, 1600) as from :func:`defect_masks`.
    The rows carry the columns of :func:`patch_table`. Used in chapter 04_steel_defects.
    """
    span = slice(CROP_LEFT, CROP_LEFT + N_PATCHES * PATCH)
    grey_p = grey[:, span].reshape(PATCH, N_PATCHES, PATCH).transpose(1, 0, 2)
    m = masks[:, :, span].reshape(len(CLASSES), PATCH, N_PATCHES, PATCH)
    per_class = m.any(axis=(1, 3))                   # (4, 6): does class k touch patch p
    union = m.any(axis=0).transpose(1, 0, 2)         # (6, 256, 256)
    rows = []
    for p in range(N_PATCHES):
        share = background_share(grey_p[p], background_threshold)
        present = [c for c, hit in zip(CLASSES, per_class[:, p]) if hit]
        rows.append({"image_id": image_id, "patch": p, "x0": CROP_LEFT + PATCH * p,
                     "label": patch_label(present), "classes": "+".join(map(str, present)),
                     "defect_pixels": int(np.count_nonzero(union[p])),
                     "background_share": share, "dropped": share > max_background})
    return rows, grey_p, union


def _cut(data_dir: Path, index: pd.DataFrame, threshold: int, max_share: float) -> Iterator[_ImagePatches]:
    folder = data_dir / TRAIN_IMAGES
    for rec in index.itertuples(index=False):
        grey = read_image(folder / rec.image_id)
        rows, grey_p, union = cut_image(rec.image_id, grey, defect_masks(rec._asdict()),
                                        background_threshold=threshold, max_background=max_share)
        yield _ImagePatches(rows, grey_p, union)


def _select(index: pd.DataFrame, images: str, image_ids: Sequence[str] | None) -> pd.DataFrame:
    if images not in ("defective", "all"):
        raise ValueError(f"images={images!r}: use 'defective' (the paper's choice) or 'all'")
    if image_ids is not None:
        wanted = list(image_ids)
        unknown = sorted(set(wanted) - set(index["image_id"]))
        if unknown:
            raise SteelDataError(f"image_ids names {len(unknown)} image(s) not in the data, e.g. {unknown[0]!r}")
        index = index.set_index("image_id").loc[wanted].reset_index()
    if images == "defective":
        index = index[(index[list(RLE_COLUMNS)] != "").any(axis=1)]
    return index.reset_index(drop=True)


def patch_table(data_dir: str | Path, *, images: str = "defective", image_ids: Sequence[str] | None = None,
                background_threshold: int = BACKGROUND_THRESHOLD,
                max_background: float = MAX_BACKGROUND_SHARE) -> pd.DataFrame:
    """All 6 patches of each selected image, without keeping the pixels.

    Columns: ``image_id``, ``patch`` (0-5), ``x0`` (first column in the image), ``label`` (0-4,
    -1 multiple), ``classes`` (e.g. ``"1+3"``), ``defect_pixels`` (pixels of the patch inside any
    defect mask), ``background_share`` and ``dropped`` (``background_share > max_background``).
    ``images`` is ``"defective"`` (the paper's choice) or ``"all"``; ``image_ids`` picks a
    subset. Feed it to :func:`table1`. Used in chapter 04_steel_defects.
    """
    data_dir = Path(data_dir)
    index = _select(read_index(data_dir), images, image_ids)
    rows = [r for cut in _cut(data_dir, index, background_threshold, max_background) for r in cut.rows]
    return _as_table(rows)


def _as_table(rows: list[dict]) -> pd.DataFrame:
    columns = ["image_id", "patch", "x0", "label", "classes", "defect_pixels", "background_share", "dropped"]
    return pd.DataFrame(rows, columns=columns).astype({"patch": int, "x0": int, "label": int,
                                                       "defect_pixels": int, "dropped": bool})


def table1(patches: pd.DataFrame) -> pd.DataFrame:
    """Table 1 of Lorentz et al. 2021 for the patches given: count and percent per class.

    Rows ``1``-``4``, ``no defect``, ``multiple`` (as :data:`PAPER_TABLE1`); patches dropped as
    background are not counted. ``patches`` is :func:`patch_table`'s output (or
    :attr:`SteelPatches.all_patches`). Used in chapter 04_steel_defects.
    """
    kept = patches.loc[~patches["dropped"].astype(bool), "label"]
    order = [1, 2, 3, 4, NO_DEFECT, MULTIPLE]
    n = [int((kept == label).sum()) for label in order]
    total = max(sum(n), 1)
    return pd.DataFrame({"class": [LABEL_NAMES[label] for label in order], "n": n,
                         "percent": [100.0 * k / total for k in n]})


# ---------------------------------------------------------------------------------------------
# the loader


@dataclass(frozen=True)
class SteelPatches:
    """Single-class patches ready for training, and the bookkeeping of all patches cut.

    images: uint8 (N, 3, size, size), the grey patch broadcast to 3 channels (a read-only view
        of one channel: call ``.contiguous()`` before writing into it);
    masks: bool (N, size, size), the defect mask of the patch (any pixel of a defect in the
        source block marks the resized pixel);
    labels: int64 (N,), 0 = no defect, 1-4 = class;
    table: one row per returned patch (columns of :func:`patch_table`), aligned with the tensors;
    all_patches: every patch cut, dropped and multi-class ones included (for :func:`table1`).
    """

    images: torch.Tensor
    masks: torch.Tensor
    labels: torch.Tensor
    table: pd.DataFrame
    all_patches: pd.DataFrame


def load_patches(data_dir: str | Path, size: int = PATCH, *, mask_size: int | None = None, images: str = "defective",
                 image_ids: Sequence[str] | None = None, background_threshold: int = BACKGROUND_THRESHOLD,
                 max_background: float = MAX_BACKGROUND_SHARE) -> SteelPatches:
    """Cut the selected images into the steel patch dataset and return its single-class patches.

    Background patches (more than ``max_background`` of pixels below ``background_threshold``)
    are dropped; multi-class patches are counted in ``all_patches`` but not returned. Patches are
    resized to ``size`` (bilinear for the image, "any pixel" for the mask) when ``size != 256``,
    for the CPU profile. ``mask_size`` (default: ``size``) keeps the masks at another side, e.g.
    256 so that a map computed at 64 px is scored against the exact annotation (the "any pixel"
    rule inflates thin defects at 64 px). Reads every selected JPEG once. Used in chapter
    04_steel_defects.

    Returns:
        :class:`SteelPatches` with images (N, 3, size, size) uint8, masks (N, mask_size, mask_size) bool,
        labels (N,) int64, and the patch tables.
    """
    mask_size = size if mask_size is None else mask_size
    for name, value in (("size", size), ("mask_size", mask_size)):
        if int(value) != value or value < 1:
            raise ValueError(f"{name}={value!r}: give the patch side in pixels (256 keeps the original)")
    data_dir = Path(data_dir)
    index = _select(read_index(data_dir), images, image_ids)
    rows, greys, masks = [], [], []
    for cut in _cut(data_dir, index, background_threshold, max_background):
        rows.extend(cut.rows)
        keep = [p for p, r in enumerate(cut.rows) if not r["dropped"] and r["label"] != MULTIPLE]
        for p in keep:
            greys.append(_resize_grey(cut.grey[p], size))
        if keep:
            masks.append(_resize_mask(cut.masks[keep], mask_size))
    all_patches = _as_table(rows)
    table = all_patches[~all_patches["dropped"] & (all_patches["label"] != MULTIPLE)].reset_index(drop=True)
    grey = torch.from_numpy(np.stack(greys)) if greys else torch.empty((0, size, size), dtype=torch.uint8)
    mask = torch.cat(masks) if masks else torch.empty((0, mask_size, mask_size), dtype=torch.bool)
    return SteelPatches(images=grey[:, None].expand(-1, 3, -1, -1), masks=mask,
                        labels=torch.tensor(table["label"].to_numpy(dtype=np.int64)),
                        table=table, all_patches=all_patches)


def _resize_grey(grey: np.ndarray, size: int) -> np.ndarray:
    if size == grey.shape[0]:
        return grey
    return np.asarray(Image.fromarray(grey).resize((size, size), Image.BILINEAR))


def _resize_mask(masks: np.ndarray, size: int) -> torch.Tensor:
    side = masks.shape[-1]
    if size == side:
        return torch.from_numpy(masks.copy())
    if size > side:
        idx = (np.arange(size) * side) // size
        return torch.from_numpy(np.ascontiguousarray(masks[:, idx][:, :, idx]))
    # a resized pixel is a defect when any pixel of its source block is, so that a thin scratch
    # stays visible in the small mask instead of vanishing
    starts = (np.arange(size) * side) // size
    out = np.logical_or.reduceat(np.logical_or.reduceat(masks, starts, axis=1), starts, axis=2)
    return torch.from_numpy(out)
