"""GrowliFlower in its Hugging Face mirror: the loader of chapter 02_cauliflower (Kierdorf & Roscher 2023).

The paper (Sec. 2.2) classifies top-view RGB patches of single cauliflower plants of GrowliFlower's
field 2, taken on 2021_08_23, 2021_08_25, 2021_08_30 and 2021_09_03, into *not ready* / *ready*
(harvested within the next three days), leaving out images of plants already harvested, and uses
GrowliFlower's own split of 541 / 196 / 194 images. Neither how GrowliFlower encodes readiness nor
that split was found (``../shared/FACTS.md``), so this module derives both and documents how.

Where the data comes from
-------------------------
The official record (PhenoRoam, id cb328232-31f5-4b84-a929-8e1ee551d66a) has no direct download.
A curated mirror is the FiftyOne dataset ``Voxel51/GrowliFlower`` on the Hugging Face hub. Its files
are a FiftyOne "FiftyOneDataset" export::

    <root>/
      fiftyone.yml, metadata.json     dataset-level metadata (not read here)
      samples.json                    {"samples": [ {...}, ... ]}, one dict per image
      data/...                        the images (JPEG); a sample's ``filepath`` is relative to <root>

What was confirmed, and where (public third-party code that parses this very file, and the card):

* ``samples.json`` holds a top-level ``samples`` list; each sample has ``filepath`` (relative, e.g.
  ``data/data_5/2020_Ref_Plot2_A9-8.jpg``), ``task`` (``reference`` for GrowliFlowerR, the time
  series of the 739 phenotyped plants that carry the ``in_situ_*`` traits; the paper uses
  GrowliFlowerR), ``plant_id`` (e.g. ``2021_Ref_Plot2_A1``), ``field`` (``Field1`` / ``Field2``),
  ``plot``, ``acquisition_date`` (``2021-08-30``), ``day_after_planting``, ``planting_date``,
  ``in_situ_diameter``, ``in_situ_head_diameter``, ``in_situ_bbch_stage``, ``in_situ_harvested``
  and ``in_situ_comment``; the ``in_situ_*`` values are raw strings (``"12"``, ``"58 (7)"``, ``"?"``,
  ``""``). Field 2 patches are stored at 256 x 256 px, field 1 patches at 490 x 490 px.
  Sources: github.com/saipratyushreddy/cauliflower-growth-forecast (``src/inspect_growliflower.py``,
  ``src/build_metadata.py``, ``src/repro_verify_data.py``, ``README.md``); the dataset card at
  huggingface.co/datasets/Voxel51/GrowliFlower (24,866 samples, group slices ``pre`` / ``post``).

What is assumed (each a module constant, so a different mirror is one edit away):

* the encoding of ``in_situ_harvested``: we accept booleans, 0/1 and the words in
  :data:`HARVESTED_TRUE` / :data:`HARVESTED_FALSE`; a value that parses as a date is taken as the
  harvest date; anything else raises :class:`CauliflowerDataError` naming the value.
* a per-plant harvest date field :data:`HARVEST_DATE` (``harvest_date``) is used where present; the
  mirror is not known to have one (the stand-in writes it). Without it, a plant's harvest date is
  the **first acquisition date at which it is marked harvested** -- a late estimate: the plant was
  cut somewhere between the previous flight and that date. (The in-situ traits were measured on
  field days that are not always flight days, per the third-party README, so the flag itself may
  lag.)
* dates may be ``2021-08-30``, ``2021_08_30``, ISO date-times or FiftyOne's ``{"$date": ...}``.
* a grouped sample (``group`` = ``{"name": ...}``) is kept only in slice :data:`GROUP_SLICE`
  (``pre``: before defoliation); a sample with a ``task`` field is kept only if it is
  :data:`TASK_VALUE` (``reference``).
* head diameters are in cm as stored; ``"X (Y)"`` reads as X, ``"12,5"`` as 12.5, ``"?"``/blank as NaN.

The readiness rule (ours; the paper only says "within the next three days")
-------------------------------------------------------------------------------
With :math:`h` the plant's harvest date and :math:`d` the acquisition date, an image is

* left out if the plant is already harvested: :math:`h \\le d`, or ``in_situ_harvested`` is true at :math:`d`;
* **ready** if :math:`0 < h - d \\le 3` days, **not ready** otherwise (also when the plant was never
  harvested in the record, so labels of the last dates are right-censored).

Used by chapter 02_cauliflower; the stand-in (:mod:`xaibook.cauliflower.standin`) writes this layout.
"""
from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image, UnidentifiedImageError

CLASSES = ("not_ready", "ready")
PAPER_DATES = ("2021_08_23", "2021_08_25", "2021_08_30", "2021_09_03")
PAPER_FIELD = 2
PAPER_SPLIT_SIZES = (541, 196, 194)          # train / val / test images after exclusion (Sec. 2.2)
SPLITS = ("train", "val", "test")
READY_WINDOW_DAYS = 3

SAMPLES_JSON = "samples.json"
# Field names of the mirror's samples (see the module docstring for what is confirmed).
FILEPATH = "filepath"
PLANT_ID = "plant_id"
FIELD = "field"
DATE = "acquisition_date"
DAY_AFTER_PLANTING = "day_after_planting"
HEAD_DIAMETER = "in_situ_head_diameter"
HARVESTED = "in_situ_harvested"
HARVEST_DATE = "harvest_date"               # assumed; optional
TASK = "task"
TASK_VALUE = "reference"
GROUP = "group"
GROUP_SLICE = "pre"
SPLIT = "split"                              # optional; used as is by split_by_plant
REQUIRED_FIELDS = (FILEPATH, PLANT_ID, FIELD, DATE, HARVESTED)

HARVESTED_TRUE = frozenset({"1", "true", "yes", "y", "x", "harvested", "h", "ja", "geerntet"})
HARVESTED_FALSE = frozenset({"", "0", "false", "no", "n", "-", "nan", "none", "null", "nein"})

HOW_TO_GET = ("GrowliFlower's mirror is the FiftyOne dataset Voxel51/GrowliFlower on the Hugging Face hub. "
              "Either `pip install fiftyone huggingface_hub` and run "
              "`fiftyone.utils.huggingface.load_from_hub(\"Voxel51/GrowliFlower\")`, or download its files with "
              "`huggingface-cli download Voxel51/GrowliFlower --repo-type dataset --local-dir <root>` and pass "
              "that <root> (the folder holding samples.json and data/). Without the real data the chapter "
              "renders a stand-in in the same layout (data='synthetic', xaibook.cauliflower.write_standin).")


class CauliflowerDataError(ValueError):
    """A GrowliFlower folder that is missing or malformed; the message names the file and the fix."""


# ----------------------------------------------------------------------------- value parsing
def _to_date(value: object) -> pd.Timestamp:
    """A calendar day from ``2021-08-30``, ``2021_08_30``, an ISO date-time or ``{"$date": ...}``."""
    if isinstance(value, dict) and "$date" in value:
        value = value["$date"]
        if isinstance(value, dict) and "$numberLong" in value:
            value = int(value["$numberLong"])
        if isinstance(value, (int, float)):
            return pd.Timestamp(int(value), unit="ms").normalize()
    if isinstance(value, pd.Timestamp):
        return value.tz_localize(None).normalize() if value.tzinfo else value.normalize()
    if isinstance(value, str):
        text = value.strip()
        if re.fullmatch(r"\d{4}_\d{2}_\d{2}", text):
            text = text.replace("_", "-")
        stamp = pd.Timestamp(text)
        return (stamp.tz_convert(None) if stamp.tzinfo else stamp).normalize()
    raise ValueError(f"not a date: {value!r}")


def parse_dates(values: Iterable[object]) -> list[pd.Timestamp]:
    """Normalise dates given as ``2021_08_23`` (the paper's notation), ISO strings or timestamps."""
    return [_to_date(v) for v in values]


def _parse_field(value: object) -> int:
    """``Field2`` / ``field_2`` / ``2`` -> 2."""
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    digits = re.findall(r"\d+", str(value))
    if len(digits) != 1:
        raise ValueError(value)
    return int(digits[0])


def parse_diameter(value: object) -> float:
    """An ``in_situ_*`` measurement as float: ``"12,5"`` -> 12.5, ``"58 (7)"`` -> 58, ``"?"``/blank -> NaN."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return float("nan")
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        return float(value)
    match = re.match(r"^\s*(-?\d+(?:[.,]\d+)?)", str(value))
    return float(match.group(1).replace(",", ".")) if match else float("nan")


def _parse_harvested(value: object) -> tuple[bool, pd.Timestamp | None]:
    """(harvested, harvest date if the value is a date); raises ValueError on anything else."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return False, None
    if isinstance(value, (bool, np.bool_)):
        return bool(value), None
    if isinstance(value, (int, np.integer)) and value in (0, 1):
        return bool(value), None
    text = str(value).strip().lower()
    if text in HARVESTED_TRUE:
        return True, None
    if text in HARVESTED_FALSE:
        return False, None
    return True, _to_date(str(value))


# ----------------------------------------------------------------------------- readiness
def derive_harvest_dates(frame: pd.DataFrame) -> pd.Series:
    """Each row's plant harvest date: ``harvest_date`` where given, else the first date marked harvested.

    ``frame`` needs ``plant_id``, ``date`` (Timestamp) and ``harvested`` (bool); an optional
    ``harvest_date`` column wins for the plants where it is set (the earliest value per plant).
    Plants never marked harvested get NaT.
    """
    flagged = frame.loc[frame["harvested"].astype(bool), ["plant_id", "date"]]
    first = flagged.groupby("plant_id")["date"].min()
    if "harvest_date" in frame.columns:
        given = pd.to_datetime(frame["harvest_date"]).groupby(frame["plant_id"]).min().dropna()
        first = given.combine_first(first)
    return pd.to_datetime(frame["plant_id"].map(first))


def label_readiness(frame: pd.DataFrame, window_days: int = READY_WINDOW_DAYS) -> pd.DataFrame:
    """Drop images of harvested plants and add the paper's label (our rule, module docstring).

    Args:
        frame: one row per image with ``plant_id``, ``date`` (Timestamp), ``harvested`` (bool) and
            optionally ``harvest_date``; give *all* dates of each plant, since the harvest date is
            derived from later flags where it is missing.
        window_days: the paper's horizon, three days.

    Returns:
        A copy without the rows where :math:`h \\le d` or ``harvested``, with ``harvest_date``,
        ``days_to_harvest`` (float, NaN if never harvested), ``ready`` (:math:`0 < h - d \\le`
        ``window_days``), ``y`` (0/1) and ``label`` (``CLASSES[y]``).
    """
    out = frame.copy()
    out["harvest_date"] = derive_harvest_dates(out)
    days = (out["harvest_date"] - out["date"]).dt.days.astype(float)
    gone = out["harvested"].astype(bool).to_numpy() | (days <= 0).to_numpy()
    out["days_to_harvest"] = days
    out = out.loc[~gone].copy()
    out["ready"] = ((out["days_to_harvest"] > 0) & (out["days_to_harvest"] <= window_days)).astype(bool)
    out["y"] = out["ready"].astype(int)
    out["label"] = np.asarray(CLASSES)[out["y"].to_numpy()]
    return out


# ----------------------------------------------------------------------------- loading
def _read_samples(root: Path) -> list[dict]:
    path = root / SAMPLES_JSON
    if not root.is_dir():
        raise CauliflowerDataError(f"GrowliFlower folder {root} does not exist. {HOW_TO_GET}")
    if not path.is_file():
        raise CauliflowerDataError(f"{path} is missing: the mirror's folder holds samples.json next to data/. "
                                   f"{HOW_TO_GET}")
    try:
        with path.open(encoding="utf-8") as fh:
            doc = json.load(fh)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CauliflowerDataError(f"{path} is not valid JSON ({err}); download it again "
                                   f"(huggingface-cli download Voxel51/GrowliFlower samples.json --repo-type dataset "
                                   f"--local-dir {root})") from err
    samples = doc.get("samples") if isinstance(doc, dict) else None
    if not isinstance(samples, list) or not samples or not all(isinstance(s, dict) for s in samples):
        raise CauliflowerDataError(f"{path} is not a FiftyOne samples file: expected an object with a non-empty "
                                   f"'samples' list of objects; download it again from Voxel51/GrowliFlower")
    return samples


def _normalise(samples: list[dict], path: Path) -> pd.DataFrame:
    """The samples as a frame with parsed ``field``, ``date``, ``harvested``, ``head_diameter``."""
    present = set().union(*(s.keys() for s in samples))
    missing = [f for f in REQUIRED_FIELDS if f not in present]
    if missing:
        raise CauliflowerDataError(
            f"{path}: no sample has the field(s) {', '.join(missing)}; found {', '.join(sorted(present))}. "
            f"If the mirror renamed them, set xaibook.cauliflower.dataset.{{FILEPATH, PLANT_ID, FIELD, DATE, "
            f"HARVESTED}} accordingly.")
    if TASK in present:
        samples = [s for s in samples if s.get(TASK) == TASK_VALUE]
    samples = [s for s in samples
               if not isinstance(s.get(GROUP), dict) or s[GROUP].get("name", GROUP_SLICE) == GROUP_SLICE]
    rows = []
    for k, s in enumerate(samples):
        where = f"{path}, sample {k} ({s.get(FILEPATH)!r})"
        for f in REQUIRED_FIELDS[:4]:
            if s.get(f) in (None, ""):
                raise CauliflowerDataError(f"{where}: field {f!r} is empty")
        try:
            field = _parse_field(s[FIELD])
        except (TypeError, ValueError) as err:
            raise CauliflowerDataError(f"{where}: field {FIELD!r} = {s[FIELD]!r} names no field number") from err
        try:
            date = _to_date(s[DATE])
        except ValueError as err:
            raise CauliflowerDataError(f"{where}: {DATE!r} = {s[DATE]!r} is not a date") from err
        try:
            harvested, flag_date = _parse_harvested(s.get(HARVESTED))
        except ValueError as err:
            raise CauliflowerDataError(
                f"{where}: {HARVESTED!r} = {s.get(HARVESTED)!r} is neither a yes/no value nor a date; add it to "
                f"xaibook.cauliflower.dataset.HARVESTED_TRUE or HARVESTED_FALSE") from err
        harvest_date = s.get(HARVEST_DATE)
        try:
            harvest_date = _to_date(harvest_date) if harvest_date not in (None, "") else flag_date
        except ValueError as err:
            raise CauliflowerDataError(f"{where}: {HARVEST_DATE!r} = {s[HARVEST_DATE]!r} is not a date") from err
        sid = s.get("_id")
        row = {"sample_id": sid.get("$oid") if isinstance(sid, dict) else sid, "image": s[FILEPATH],
               "plant_id": str(s[PLANT_ID]), "field": field, "date": date,
               "day_after_planting": s.get(DAY_AFTER_PLANTING), "head_diameter": parse_diameter(s.get(HEAD_DIAMETER)),
               "harvested": harvested, "harvest_date": harvest_date}
        # keep the remaining plain values (plot, the stand-in's ground truth sim_*, an optional split)
        for key, value in s.items():
            if (key not in row and not key.startswith("_") and key not in (FILEPATH, PLANT_ID, FIELD, DATE, HARVESTED,
                                                                             HARVEST_DATE, HEAD_DIAMETER)
                    and (value is None or isinstance(value, (str, int, float, bool)))):
                row[key] = value
        rows.append(row)
    frame = pd.DataFrame(rows)
    if frame.empty:
        raise CauliflowerDataError(f"{path}: no sample of task {TASK_VALUE!r} in group slice {GROUP_SLICE!r}")
    frame["harvest_date"] = pd.to_datetime(frame["harvest_date"])
    return frame


def load_growliflower(root: str | Path, *, field: int = PAPER_FIELD,
                      dates: Sequence[object] = PAPER_DATES) -> pd.DataFrame:
    """The paper's images of one field and some acquisition dates, labelled not ready / ready.

    Reads ``<root>/samples.json`` (layout in the module docstring), keeps ``field`` and ``dates``,
    leaves out images of plants already harvested and labels the rest by :func:`label_readiness`
    (ready: harvested :math:`0 < h - d \\le 3` days after the image). Chapter 02_cauliflower.

    Args:
        root: the folder holding ``samples.json`` and ``data/`` (the mirror or the stand-in).
        field: 2 in the paper.
        dates: acquisition dates, ``2021_08_23`` or ``2021-08-23``; default the paper's four.

    Returns:
        One row per image, sorted by date and plant: ``image`` (the sample's ``filepath``, relative
        to ``root`` or absolute), ``plant_id``, ``field``, ``date``, ``day_after_planting``,
        ``head_diameter`` (cm, NaN if not measured), ``harvested``, ``harvest_date``,
        ``days_to_harvest``, ``ready``, ``y``, ``label``, ``sample_id`` and any other plain sample
        fields (``plot``, the stand-in's ``sim_*`` ground truth, an optional ``split``).
    """
    root = Path(root)
    path = root / SAMPLES_JSON
    frame = _normalise(_read_samples(root), path)
    wanted = parse_dates(dates)
    in_field = frame[frame["field"] == field]
    selected = in_field
    if not in_field.empty:       # label first: a missing harvest date is read from later flights
        labelled = label_readiness(in_field)
        selected = labelled[labelled["date"].isin(wanted)]
    if selected.empty:
        fields = sorted(frame["field"].unique())
        have = sorted(in_field["date"].dt.strftime("%Y-%m-%d").unique())
        asked = ", ".join(d.strftime("%Y-%m-%d") for d in wanted)
        raise CauliflowerDataError(
            f"{path}: no image of a not yet harvested plant in field {field} on {asked}. Fields present: "
            f"{', '.join(map(str, fields))}; dates of field {field}: {', '.join(have) or 'none'}.")
    return selected.sort_values(["date", "plant_id"]).reset_index(drop=True)


# ----------------------------------------------------------------------------- splits
def split_by_plant(frame: pd.DataFrame, sizes: Sequence[int] = PAPER_SPLIT_SIZES, seed: int = 0) -> pd.DataFrame:
    """A copy of ``frame`` with a ``split`` column (train / val / test); all images of a plant share one.

    The paper uses GrowliFlower's split, which was not found. An existing ``split`` column (every
    row set) is kept as is. Otherwise plants are taken in a random order (``seed``) and each goes to
    the split whose image count is furthest below its target, the targets being ``sizes`` rescaled
    to ``len(frame)``; every split ends within one plant's images (at most four here) of its target.
    """
    if SPLIT in frame.columns and frame[SPLIT].notna().all():
        bad = sorted(set(frame[SPLIT]) - set(SPLITS))
        if bad:
            raise CauliflowerDataError(f"column 'split' holds {bad}; expected only {', '.join(SPLITS)}")
        return frame.copy()
    if len(sizes) != len(SPLITS) or min(sizes) < 0 or sum(sizes) == 0:
        raise ValueError(f"sizes must be three non-negative counts (train, val, test), got {tuple(sizes)}")
    counts = frame.groupby("plant_id", sort=True).size()
    order = np.random.default_rng(seed).permutation(len(counts))
    target = np.asarray(sizes, float) * len(frame) / float(sum(sizes))
    filled = np.zeros(len(SPLITS))
    assign = {}
    for i in order:
        k = int(np.argmax(target - filled))
        assign[counts.index[i]] = SPLITS[k]
        filled[k] += counts.iloc[i]
    out = frame.copy()
    out[SPLIT] = out["plant_id"].map(assign)
    return out


# ----------------------------------------------------------------------------- images
def resolve_image(root: str | Path, image: str) -> Path:
    """A sample's image path: absolute paths as they are, relative ones under ``root``."""
    path = Path(image)
    return path if path.is_absolute() else Path(root) / path


def load_images(frame: pd.DataFrame, root: str | Path, size: int) -> torch.Tensor:
    """The images of ``frame`` as float (N, 3, size, size) in [0, 1], RGB, resized with PIL bilinear.

    PIL widens the bilinear kernel when it shrinks an image, so downsizing is antialiased. A
    missing or unreadable image raises :class:`CauliflowerDataError` naming the file.
    """
    out = torch.empty((len(frame), 3, size, size), dtype=torch.float32)
    for i, rel in enumerate(frame["image"]):
        path = resolve_image(root, rel)
        try:
            with Image.open(path) as im:
                im = im.convert("RGB")
                if im.size != (size, size):
                    im = im.resize((size, size), Image.BILINEAR)
                arr = np.asarray(im, dtype=np.float32) / 255.0
        except FileNotFoundError as err:
            raise CauliflowerDataError(f"{path} is listed in {Path(root) / SAMPLES_JSON} but does not exist; "
                                       f"download the mirror's data/ folder again") from err
        except (UnidentifiedImageError, OSError) as err:
            raise CauliflowerDataError(f"{path} is not a readable image ({err}); download it again or drop its "
                                       f"sample from {Path(root) / SAMPLES_JSON}") from err
        out[i] = torch.from_numpy(arr).permute(2, 0, 1)
    return out


def labels(frame: pd.DataFrame) -> torch.Tensor:
    """The class indices (N,) int64: 0 not ready, 1 ready."""
    return torch.tensor(frame["y"].to_numpy(dtype=np.int64))
