"""Run-length encoding of defect masks in the Kaggle Severstal format (chapter 04_steel_defects).

The competition's ``EncodedPixels`` is a space-separated list of ``start length`` pairs. Pixels
are numbered from 1, top to bottom down the first column, then down the next column
(column-major, NumPy's ``order='F'`` on a (256, 1600) mask). Runs are listed in increasing order
and do not overlap.
"""
from __future__ import annotations

import re

import numpy as np

SHAPE = (256, 1600)   # (height, width) of a Severstal image
_DIGITS_AND_SPACES = re.compile(r"[0-9\s]*", re.ASCII)


def parse_runs(rle: str, shape: tuple[int, int] = SHAPE) -> tuple[np.ndarray, np.ndarray]:
    """Check a Kaggle run-length string against ``shape``; returns its (starts, lengths), 1-indexed.

    Raises ``ValueError`` naming the offending value, as :func:`rle_decode` does.
    """
    if not isinstance(rle, str):
        raise ValueError(f"run-length string expected, got {type(rle).__name__} {rle!r}")
    height, width = (int(s) for s in shape)
    n_pixels = height * width
    tokens = rle.split()
    if len(tokens) % 2:
        raise ValueError(f"run-length string has an odd number of values ({len(tokens)}): the last "
                         f"start {tokens[-1]!r} has no length; expected 'start length' pairs")
    # int() would accept '+3', '-3' and '3_0'; the format only has plain decimal digits
    if not _DIGITS_AND_SPACES.fullmatch(rle):
        for i, tok in enumerate(tokens):
            if not (tok.isascii() and tok.isdigit()):
                what = "start" if i % 2 == 0 else "length"
                raise ValueError(f"run-length value {tok!r} (a {what}, value {i + 1}) is not a positive integer")
    too_big = [tok for tok in tokens if len(tok) > 15]      # no image has 10**15 pixels
    if too_big:
        raise ValueError(f"run-length value {too_big[0]!r} is far beyond the {n_pixels} pixels of a {height}x{width} mask")
    values = np.array(tokens, dtype=np.int64)
    starts, lengths = values[0::2], values[1::2]
    bad = np.flatnonzero(starts < 1)
    if len(bad):
        raise ValueError(f"run start {starts[bad[0]]} is below 1 (pixels are numbered from 1)")
    bad = np.flatnonzero(lengths < 1)
    if len(bad):
        raise ValueError(f"run '{starts[bad[0]]} {lengths[bad[0]]}' has length {lengths[bad[0]]}; lengths are at least 1")
    ends = starts + lengths - 1                      # last pixel of each run, 1-indexed
    bad = np.flatnonzero(ends > n_pixels)
    if len(bad):
        i = bad[0]
        raise ValueError(f"run '{starts[i]} {lengths[i]}' ends at pixel {ends[i]}, beyond the "
                         f"{n_pixels} pixels of a {height}x{width} mask")
    bad = np.flatnonzero(starts[1:] <= ends[:-1])
    if len(bad):
        i = bad[0]
        raise ValueError(f"run '{starts[i + 1]} {lengths[i + 1]}' overlaps or precedes the run "
                         f"'{starts[i]} {lengths[i]}' before it; runs must be sorted and disjoint")
    return starts, lengths


def rle_decode(rle: str, shape: tuple[int, int] = SHAPE) -> np.ndarray:
    """Decode a Kaggle run-length string into a boolean mask of ``shape`` (height, width).

    ``""`` (or only whitespace) is an empty mask. A malformed string (odd number of values,
    non-integers, starts below 1, lengths below 1, runs out of range, overlapping or out of
    order) raises ``ValueError`` naming the offending value. Used in chapter 04_steel_defects.

    Returns:
        bool array of ``shape``.
    """
    starts, lengths = parse_runs(rle, shape)
    height, width = (int(s) for s in shape)
    flat = np.zeros(height * width + 1, dtype=np.int8)
    if len(starts):
        # +1 at each run's first pixel, -1 after its last: the running sum is the mask.
        # Runs are disjoint, so a run may start where the previous one stopped (+1 - 1 = 0).
        np.add.at(flat, starts - 1, 1)
        np.subtract.at(flat, starts + lengths - 1, 1)
        flat = np.cumsum(flat, dtype=np.int8)
    return flat[:-1].astype(bool).reshape((height, width), order="F")


def rle_encode(mask: np.ndarray) -> str:
    """Encode a 2-D mask (bool, or 0/1) as a Kaggle run-length string; an empty mask gives ``""``.

    Inverse of :func:`rle_decode`. Used in chapter 04_steel_defects (the stand-in writes its
    masks with it).
    """
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"mask must be 2-D (height, width), got shape {mask.shape}")
    if mask.dtype != bool:
        if not np.isin(mask, (0, 1)).all():
            raise ValueError(f"mask of dtype {mask.dtype} holds values other than 0 and 1; pass a boolean mask")
        mask = mask.astype(bool)
    flat = np.concatenate(([False], mask.ravel(order="F"), [False]))
    edges = np.flatnonzero(flat[1:] != flat[:-1]) + 1   # 1-indexed run starts and one-past-ends
    edges[1::2] -= edges[0::2]
    return " ".join(map(str, edges.tolist()))
